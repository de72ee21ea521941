package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/migrations"
	"github.com/tenantflow/tenantflow/projections"
)

// startup brings the event log up: schema migrations, a log that belongs to
// this cluster, the projections' tables, the topics. It retries until it
// succeeds or ctx ends; the parts that need the log wait for it (wait).
type startup struct {
	projections *projections.Engine
	// migrateURL is the tables' owner (empty: the store's own pool migrates);
	// in production the store's role must not be able to rewrite the log.
	migrateURL string
	production bool
	warned     bool
	store      *eventstore.Postgres
	brokers    []string
	topic      string
	partitions int32
	logger     *slog.Logger

	up   chan struct{} // closed once the log is up
	mu   sync.Mutex
	err  error
	done bool
}

// starting readies s to run: not up yet, and /readyz says it is starting.
func (s *startup) starting() *startup {
	s.up = make(chan struct{})
	s.err = errors.New("starting")
	return s
}

// component is the start-up as a part of tenantd: it ends once the log is
// up (or ctx ends).
func (s *startup) component() component {
	return component{name: "startup", run: func(ctx context.Context) error {
		s.run(ctx)
		return nil
	}}
}

// wait blocks until the log is up (true) or ctx ends (false).
func (s *startup) wait(ctx context.Context) bool {
	select {
	case <-s.up:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *startup) run(ctx context.Context) {
	logger := s.logger
	for delay := time.Second; ctx.Err() == nil; delay = min(2*delay, 30*time.Second) {
		err := s.once(ctx, logger, s.store, s.brokers, s.topic, s.partitions)
		if err == nil {
			s.set(true, nil)
			close(s.up)
			return
		}
		s.set(false, err)
		if ctx.Err() == nil {
			logger.Error("event log not ready; retrying", "error", err, "retry_in", delay.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

func (s *startup) once(ctx context.Context, logger *slog.Logger, store *eventstore.Postgres, brokers []string, topic string, partitions int32) error {
	applied, err := s.migrate(ctx, store)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "applied", applied)
	}
	if err := store.CheckAppendOnly(ctx); err != nil {
		if s.production || !errors.Is(err, eventstore.ErrRewritableLog) {
			return err
		}
		if !s.warned {
			s.warned = true
			logger.Warn("development only: the runtime role could rewrite the event log", "error", err)
		}
	}
	if err := store.CheckHorizon(ctx); err != nil {
		return err
	}
	if err := s.projections.Ensure(ctx); err != nil {
		return err
	}
	if err := kafka.CreateTopic(brokers, topic, partitions); err != nil {
		return err
	}
	if err := kafka.CreateTopic(brokers, kafka.DLQTopic(topic), 1); err != nil {
		return err
	}
	return nil
}

// migrate applies pending migrations as the tables' owner; in production
// it only checks that none is pending (`tenantctl migrate` applies them).
func (s *startup) migrate(ctx context.Context, store *eventstore.Postgres) ([]string, error) {
	if s.production {
		pending, err := migrations.Pending(ctx, store.Pool())
		if err == nil && pending {
			err = errors.New("the database schema is older than this tenantd: run `tenantctl migrate` (as the tables' owner, TENANTFLOW_DATABASE_MIGRATE_URL) before it starts")
		}
		return nil, err
	}
	if s.migrateURL == "" {
		return migrations.Up(ctx, store.Pool())
	}
	owner, err := postgres.Open(ctx, s.migrateURL)
	if err != nil {
		return nil, fmt.Errorf("TENANTFLOW_DATABASE_MIGRATE_URL: %w", err)
	}
	defer owner.Close()
	return migrations.Up(ctx, owner)
}

func (s *startup) set(done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done, s.err = done, err
}

// ready is the /readyz check: the log is migrated and the relay running.
func (s *startup) ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	return s.err
}
