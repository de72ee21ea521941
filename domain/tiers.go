package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Isolation models: how much of the platform a tenant shares. silo and
// bridge get infrastructure of their own; pooled shares what exists.
const (
	IsolationSilo   = "silo"
	IsolationBridge = "bridge"
	IsolationPooled = "pooled"
)

// IsolationModels lists every isolation model.
var IsolationModels = []string{IsolationSilo, IsolationBridge, IsolationPooled}

// Tiers maps plan tier names, which are the operator's own (enterprise,
// standard, basic, ...), onto isolation models. A provisioning request names
// a tier; the model it maps to is recorded in the request's event, so the
// log says what was decided even after the operator's catalogue changes.
type Tiers map[string]string

// DefaultTiers is the catalogue when none is configured: each isolation
// model is a tier of its own name.
var DefaultTiers = Tiers{IsolationSilo: IsolationSilo, IsolationBridge: IsolationBridge, IsolationPooled: IsolationPooled}

// ParseTiers reads "enterprise=silo,standard=bridge" (the configuration's
// form) and checks every model; an empty string gives DefaultTiers.
func ParseTiers(spec string) (Tiers, error) {
	if strings.TrimSpace(spec) == "" {
		return maps.Clone(DefaultTiers), nil
	}
	out := Tiers{}
	var bad []string
	for part := range strings.SplitSeq(spec, ",") {
		name, model, ok := strings.Cut(strings.TrimSpace(part), "=")
		name, model = strings.TrimSpace(name), strings.TrimSpace(model)
		switch {
		case !ok || name == "":
			bad = append(bad, fmt.Sprintf("%q is not tier=model", part))
		case !slices.Contains(IsolationModels, model):
			bad = append(bad, fmt.Sprintf("tier %s: %q is not an isolation model (%s)", name, model, strings.Join(IsolationModels, ", ")))
		case out[name] != "":
			bad = append(bad, fmt.Sprintf("tier %s is named twice", name))
		default:
			out[name] = model
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

// Names are the tier names, sorted.
func (t Tiers) Names() []string { return slices.Sorted(maps.Keys(t)) }
