// Package postgres opens tenantflow's PostgreSQL connection pool and tells
// an unavailable database from a failing request.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open parses url and returns a pool. It does not wait for the server: tenantd
// starts, reports itself not ready, and connects once PostgreSQL answers.
// configure, if given, changes the parsed configuration first (a benchmark's
// tracer, its pool size).
func Open(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included: say only what failed.
		return nil, fmt.Errorf("parse database URL: invalid connection string")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "tenantflow"
	}
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool: %w", err)
	}
	return pool, nil
}

// Unavailable says whether err means the database cannot serve right now —
// unreachable, starting, shutting down, out of connections, or its schema
// not migrated yet — rather than that the request or the code is wrong: the
// caller should answer "try again later" (HTTP 503), not report a bug.
func Unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "57P"), // admin or crash shutdown, cannot connect now
			pe.Code == "53300",                // too many connections
			pe.Code == "42P01",                // undefined table: the migrations have not run
			pe.Code == "42883",                // undefined function: likewise
			pe.Code == "3F000":                // invalid schema: a projection not built yet
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}
