// Package app is tenantd's composition root: it builds the real adapters from
// the configuration, wires them into the service and runs it until ctx ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/adapters/keycloak"
	"github.com/tenantflow/tenantflow/adapters/postgres"
	"github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/internal/config"
)

// Run starts tenantd and blocks until ctx is cancelled (SIGTERM), then shuts
// down gracefully within cfg.ShutdownTimeout. Dependencies that are down do
// not stop it from starting: /readyz reports them until they answer.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	brokers := cfg.KafkaBrokers
	if cfg.EmbeddedKafka() {
		emb, err := kafka.StartEmbedded(logger)
		if err != nil {
			return err
		}
		defer emb.Close()
		brokers = emb.Brokers()
	}

	checks := []api.Check{
		{Name: "postgres", Fn: pool.Ping},
		{Name: "kafka", Fn: func(ctx context.Context) error { return kafka.Ping(ctx, brokers) }},
	}
	if cfg.KeycloakConfigured() {
		kc := keycloak.NewAdmin(cfg.KeycloakURL, cfg.KeycloakAdminRealm, cfg.KeycloakAdminUser, cfg.KeycloakAdminPassword)
		checks = append(checks, api.Check{Name: "keycloak", Fn: kc.Ping})
	}

	srv := &http.Server{
		Handler:           api.NewRouter(checks, cfg.ReadyCheckTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	logger.Info("tenantd listening", "addr", ln.Addr().String(),
		"kafka_embedded", cfg.EmbeddedKafka(), "keycloak_configured", cfg.KeycloakConfigured())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
