// Command tenantd is the tenantflow service: REST API, relay, step handlers
// and projections. Configuration comes from TENANTFLOW_* variables (docs/configuration.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/internal/service"
)

func main() {
	roles := flag.String("roles", "", "comma-separated parts to run: api, relay, handlers, projections (default: all, or TENANTFLOW_ROLES)")
	steps := flag.String("steps", "", "comma-separated handlers to host: steps, notify, saga (default: all, or TENANTFLOW_STEPS)")
	flag.Parse()
	if *roles != "" {
		_ = os.Setenv("TENANTFLOW_ROLES", *roles) // validated with the rest below
	}
	if *steps != "" {
		_ = os.Setenv("TENANTFLOW_STEPS", *steps)
	}
	cfg, err := config.Load()
	if err == nil {
		err = cfg.ValidateServing()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tenantd: refusing to start: %v\n", err)
		os.Exit(2)
	}
	level, _ := cfg.SlogLevel() // validated by Load
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := service.Run(ctx, cfg, logger); err != nil {
		logger.Error("tenantd failed", "error", err)
		os.Exit(1)
	}
}
