package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/internal/service"
)

type exportTenantCmd struct {
	Tenant      string `arg:"" help:"The tenant (id or key)."`
	To          string `required:"" help:"The archive directory; the export goes into <to>/<key>-<UTC time>/."`
	DatabaseURL string `name:"database-url" env:"TENANTCTL_EXPORT_DATABASE_URL" help:"A role that may read the tenant's tables (its application's, or the database's owner); default: TENANTFLOW_TENANT_DATABASE_URL, else TENANTFLOW_DATABASE_URL."`
}

// manifest describes an export: what was copied, and a SHA-256 of every
// file, so the archive can be checked later.
type manifest struct {
	TenantID   string            `json:"tenantId"`
	Key        string            `json:"key"`
	Status     string            `json:"status"`
	ExportedAt time.Time         `json:"exportedAt"`
	Schema     string            `json:"schema,omitempty"`
	Bucket     string            `json:"bucket,omitempty"`
	Objects    int               `json:"objects"`
	Bytes      int64             `json:"objectBytes"`
	SHA256     map[string]string `json:"sha256"`
}

// exporter is a storage back end that can copy a tenant's objects out
// (handlers/storage).
type exporter interface {
	Export(ctx context.Context, t *domain.Tenant, dir string) (objects int, size int64, err error)
}

// Run copies a live tenant's data — its database schema (pg_dump, custom
// format: database.dump) and its bucket's objects (bucket/) — into a new
// directory under --to, with manifest.json; typically while an
// offboarding keeps the tenant, before its purge. Nothing is changed.
func (c exportTenantCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c exportTenantCmd) run(ctx context.Context, out io.Writer) error {
	store, cfg, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	id, err := resolveTenant(ctx, store, c.Tenant)
	if err != nil {
		return err
	}
	t, err := app.Tenants(store).Get(ctx, id)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", c.Tenant, err)
	}
	if t.Status() != domain.StatusActive && t.Status() != domain.StatusSuspended {
		return fmt.Errorf("tenant %s is %s: only a live tenant (ACTIVE, or SUSPENDED while an offboarding keeps it) has data to export", t.Key(), t.Status())
	}
	m := manifest{TenantID: t.ID(), Key: t.Key(), Status: t.Status().String(), ExportedAt: time.Now().UTC(), SHA256: map[string]string{}}
	dir := filepath.Join(c.To, t.Key()+"-"+m.ExportedAt.Format("20060102T150405Z"))
	if err := os.MkdirAll(c.To, 0o750); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("archive directory: %w", err)
	}
	for _, r := range t.Resources() {
		switch r.Kind {
		case "postgres-schema":
			m.Schema = r.ID
			if err := pgDump(ctx, cmp.Or(c.DatabaseURL, cfg.TenantDatabaseURL, cfg.DatabaseURL), r.ID, filepath.Join(dir, "database.dump")); err != nil {
				return err
			}
		case "s3-bucket", "local-directory":
			actions, err := service.StepActions(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store)
			if err != nil {
				return err
			}
			x, ok := step.As[exporter](actions[domain.StepStorage])
			if !ok {
				return fmt.Errorf("the tenant has %s %s, and the configured storage (TENANTFLOW_STORAGE=%s) cannot export it", r.Kind, r.ID, cfg.Storage)
			}
			m.Bucket = r.ID
			if m.Objects, m.Bytes, err = x.Export(ctx, t, filepath.Join(dir, "bucket")); err != nil {
				return fmt.Errorf("export %s: %w", r.ID, err)
			}
		}
	}
	if err := sums(dir, m.SHA256); err != nil {
		return err
	}
	doc, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(doc, '\n'), 0o640); err != nil {
		return err
	}
	fmt.Fprintf(out, "exported %s (%s): schema %q, %d objects (%d bytes) from %q into %s\n", t.Key(), t.ID(), m.Schema, m.Objects, m.Bytes, m.Bucket, dir)
	return nil
}

// pgDump writes schema's dump to file with pg_dump (PostgreSQL's own
// client: its format is what pg_restore reads). The password travels in
// PGPASSWORD, never on a command line others can read.
func pgDump(ctx context.Context, dbURL, schema, file string) error {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("--database-url: not a postgres:// URL (the value is not shown)")
	}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := exec.CommandContext(ctx, "pg_dump", "--dbname", u.String(), "--schema", schema, "--format", "custom", "--no-owner", "--file", file)
	cmd.Env = env
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump of schema %s: %w: %s", schema, err, strings.TrimSpace(string(msg)))
	}
	return nil
}

// sums records the SHA-256 of every file under dir, by its path there.
func sums(dir string, into map[string]string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		into[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
}
