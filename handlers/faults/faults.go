// Package faults makes named steps fail, panic or hang on purpose
// (TENANTFLOW_FAULTS), so operators and tests can rehearse compensation end
// to end; refused in production.
package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// Injector makes named steps fail on purpose, so that operators and tests can
// rehearse compensation end to end. Configured by TENANTFLOW_FAULTS, e.g.
// "database=permanent,idp=transient:2,dns=panic:bad"; refused in production.
// panic:PREFIX makes the step's handler panic for tenants whose key starts
// with PREFIX, to rehearse a handler bug (recovered, dead-lettered);
// hang:PREFIX makes each try of the step for those tenants hang until the
// try's deadline (TENANTFLOW_STEP_TRY_TIMEOUT), to rehearse a back end that
// never answers.
type Injector struct {
	mu     sync.Mutex
	rules  map[string]fault
	counts map[string]int // tenant/attempt/step → transient failures injected so far
}

type fault struct {
	permanent bool
	times     int    // transient: fail this many tries per attempt, then succeed
	panicKeys string // panic: the key prefix of the tenants it panics for
	hangKeys  string // hang: the key prefix of the tenants whose tries hang
}

// ErrInjected is the error an injected fault returns.
var ErrInjected = errors.New("injected fault")

// Parse reads "step=permanent" and "step=transient:N" rules, comma-separated.
func Parse(spec string, known []string) (*Injector, error) {
	f := &Injector{rules: map[string]fault{}, counts: map[string]int{}}
	for _, rule := range strings.Split(spec, ",") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		step, kind, ok := strings.Cut(rule, "=")
		if !ok || !slices.Contains(known, step) {
			return nil, fmt.Errorf("fault %q: want step=permanent, step=transient:N, step=panic:KEYPREFIX or step=hang:KEYPREFIX with a step of %v", rule, known)
		}
		switch {
		case kind == "permanent":
			f.rules[step] = fault{permanent: true}
		case strings.HasPrefix(kind, "panic:") && len(kind) > len("panic:"):
			f.rules[step] = fault{panicKeys: strings.TrimPrefix(kind, "panic:")}
		case strings.HasPrefix(kind, "hang:") && len(kind) > len("hang:"):
			f.rules[step] = fault{hangKeys: strings.TrimPrefix(kind, "hang:")}
		case strings.HasPrefix(kind, "transient:"):
			n, err := strconv.Atoi(strings.TrimPrefix(kind, "transient:"))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("fault %q: transient:N needs N ≥ 1", rule)
			}
			f.rules[step] = fault{times: n}
		default:
			return nil, fmt.Errorf("fault %q: want permanent, transient:N, panic:KEYPREFIX or hang:KEYPREFIX", rule)
		}
	}
	return f, nil
}

// Check returns the injected error for this try of step name, if any.
func (f *Injector) Check(_ context.Context, name, tenantAttempt string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[name]
	switch {
	case !ok || r.panicKeys != "" || r.hangKeys != "":
		return nil
	case r.permanent:
		return step.Permanent(fmt.Errorf("%w: %s fails permanently", ErrInjected, name))
	}
	key := tenantAttempt + "/" + name
	if f.counts[key] >= r.times {
		return nil
	}
	f.counts[key]++
	return fmt.Errorf("%w: %s fails transiently (%d of %d)", ErrInjected, name, f.counts[key], r.times)
}

// PanicFor panics when a panic fault of step names key's prefix.
func (f *Injector) PanicFor(name, key string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	r := f.rules[name]
	f.mu.Unlock()
	if r.panicKeys != "" && strings.HasPrefix(key, r.panicKeys) {
		panic(fmt.Sprintf("injected panic in step %s for tenant key %s", name, key))
	}
}

// HangFor blocks until ctx ends when a hang fault of step names key's
// prefix, and returns ctx's error then.
func (f *Injector) HangFor(ctx context.Context, name, key string) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	r := f.rules[name]
	f.mu.Unlock()
	if r.hangKeys == "" || !strings.HasPrefix(key, r.hangKeys) {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("%w: %s hung: %w", ErrInjected, name, ctx.Err())
}

// Wrap puts the injector's fault for step name, if it has one, in front of
// a's Do: a panic fault panics (the handler's bug rehearsed), a hang fault
// hangs each try until its deadline, a failure fails the try. a's Undo is
// its own. Applied where the actions are built (the composition root).
func (f *Injector) Wrap(name string, a step.Action) step.Action {
	if f == nil {
		return a
	}
	f.mu.Lock()
	_, ruled := f.rules[name]
	f.mu.Unlock()
	if !ruled {
		return a
	}
	return faulty{Action: a, f: f, name: name}
}

type faulty struct {
	step.Action
	f    *Injector
	name string
}

func (a faulty) Unwrap() step.Action { return a.Action }

func (a faulty) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	a.f.PanicFor(a.name, t.Key())
	if err := a.f.HangFor(ctx, a.name, t.Key()); err != nil {
		return step.Result{}, err
	}
	if err := a.f.Check(ctx, a.name, fmt.Sprintf("%s/%d", t.ID(), t.Attempt())); err != nil {
		return step.Result{}, err
	}
	return a.Action.Do(ctx, t)
}
