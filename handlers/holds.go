package handlers

import (
	"context"
	"fmt"
	"sync"

	"github.com/tenantflow/tenantflow/adapters/kafka"
)

// holds is what the dead letters hold back, known in memory so that a record
// costs no query: loaded when the consumer is given partitions, added to when
// this process dead-letters a record, and confirmed against the table before
// a record is held (a redrive, from any process, releases rows).
type holds struct {
	dl  DeadLetterStore
	mu  sync.Mutex
	set map[[2]string]bool // {handler, stream}
}

// DeadLetterStore is what the engine needs of the dead letters: the table
// (package deadletters), or a map in the choreography's in-memory tests.
// Put keeps a record for handler (held: it was held back behind an earlier
// one); Holding says whether handler still holds stream back (a redrive, from
// any process, releases it); HoldAll lists every {handler, stream} held.
type DeadLetterStore interface {
	Put(ctx context.Context, handler, stream, topic string, held bool, reason string, r kafka.Record) error
	Holding(ctx context.Context, handler, stream string) (bool, error)
	HoldAll(ctx context.Context) (map[[2]string]bool, error)
}

func newHolds(dl DeadLetterStore) *holds { return &holds{dl: dl, set: map[[2]string]bool{}} }

// load replaces the set with the store's unreleased holds.
func (h *holds) load(ctx context.Context) error {
	set, err := h.dl.HoldAll(ctx)
	if err != nil {
		return fmt.Errorf("load dead-letter holds: %w", err)
	}
	h.mu.Lock()
	h.set = set
	h.mu.Unlock()
	return nil
}

func (h *holds) add(handler, stream string) {
	h.mu.Lock()
	h.set[[2]string{handler, stream}] = true
	h.mu.Unlock()
}

// holding reports whether handler holds stream back.
func (h *holds) holding(ctx context.Context, handler, stream string) (bool, error) {
	k := [2]string{handler, stream}
	h.mu.Lock()
	known := h.set[k]
	h.mu.Unlock()
	if !known {
		return false, nil
	}
	held, err := h.dl.Holding(ctx, handler, stream)
	if err == nil && !held {
		h.mu.Lock()
		delete(h.set, k)
		h.mu.Unlock()
	}
	return held, err
}
