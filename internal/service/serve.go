package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantflow/tenantflow/api"
	"github.com/tenantflow/tenantflow/internal/config"
)

// The server's bounds: a slow or stalled client cannot hold a connection or
// a goroutine for long. The console's event streams lift their own write
// deadline and are bounded by their viewer's token instead.
const (
	readTimeout    = 30 * time.Second
	writeTimeout   = 60 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
)

// serve runs the HTTP server until ctx ends, then shuts it down gracefully:
// new connections are refused, requests in flight finish (their contexts
// are not cancelled by the signal), the console's streams end, all within
// cfg.ShutdownTimeout.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, router *api.Router) error {
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(router.CloseStreams)
	admin := &http.Server{Handler: router.Admin(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s (TENANTFLOW_ADMIN_ADDR): %w", cfg.AdminAddr, err)
	}
	logger.Info("tenantd listening", "addr", ln.Addr().String(), "admin_addr", adminLn.Addr().String(),
		"kafka_embedded", cfg.EmbeddedKafka(), "keycloak_configured", cfg.KeycloakConfigured())
	if cfg.KeycloakConfigured() && cfg.KeycloakClientID == "" {
		logger.Warn("development only: tenantd signs in to Keycloak as the admin user; set TENANTFLOW_KEYCLOAK_CLIENT_ID and _SECRET for its service account",
			"user", cfg.KeycloakAdminUser)
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	go func() { serveErr <- admin.Serve(adminLn) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	defer admin.Close() // the metrics until the end, then gone
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
