package app

import (
	"context"
	"errors"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
)

// Decision is what a use case decides on an aggregate as folded: the events
// to append and the key their ids derive from (IDs), so that whoever decides
// the same thing — a redelivered record, the API and the deadline watcher
// answering the same deployment — derives the same ids and only one append
// can win. No events: nothing to record.
type Decision[A any] func(A) (events []domain.Event, key string, err error)

// Keyed is decide with a fixed id key.
func Keyed[A any](key string, decide func(A) ([]domain.Event, error)) Decision[A] {
	return func(a A) ([]domain.Event, string, error) {
		events, err := decide(a)
		return events, key, err
	}
}

// maxRecordTries bounds Record's folds: each one follows an append by
// someone else, and a tenant's stream has only so many writers.
const maxRecordTries = 20

// Record loads aggregate id, decides and appends at the version it loaded;
// after a concurrent append it folds again and decides again on the new
// fold. A decision that is no longer due (domain.ErrNotYourTurn) or that
// decides nothing records nothing and is no error; any other error from
// decide is returned as it is (the caller's "nothing waits for this").
func (r Repository[A]) Record(ctx context.Context, id string, md eventstore.Metadata, decide Decision[A]) error {
	agg, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	return r.RecordOn(ctx, id, agg, md, decide)
}

// RecordOn is Record deciding first on loaded, a fold the caller has made
// already (a step handler folds the tenant once to see whose turn it is).
// decide may change the aggregate it is given.
func (r Repository[A]) RecordOn(ctx context.Context, id string, loaded A, md eventstore.Metadata, decide Decision[A]) error {
	agg := loaded
	for try := 0; ; try++ {
		if try > 0 {
			var err error
			if agg, err = r.Get(ctx, id); err != nil {
				return err
			}
		}
		version := agg.Version() // before decide, which may apply its events to agg
		events, key, err := decide(agg)
		if errors.Is(err, domain.ErrNotYourTurn) || (err == nil && len(events) == 0) {
			return nil
		}
		if err != nil {
			return err
		}
		err = r.AppendAt(ctx, id, version, md, events, IDs(key, len(events)))
		var ce *eventstore.ConcurrencyError
		if (errors.As(err, &ce) || errors.Is(err, eventstore.ErrEventConflict)) && try < maxRecordTries {
			continue
		}
		return err
	}
}
