package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/tenantflow/tenantflow/domain"
)

// The orphans commands go through tenantd's API with an operator's token
// (10240 to list, 10241 to retry or forget), like every other command that
// changes a tenant: no database credentials, and the actor recorded is the
// token's subject.
type orphansCmd struct {
	List   orphansListCmd   `cmd:"" help:"What undos could not remove (a failed compensation or deprovisioning), by tenant: an operator must (10240)."`
	Retry  orphansRetryCmd  `cmd:"" help:"Run a tenant's failed undos again, of every attempt (its handlers react as in a rollback); its orphans go as they succeed (10241)."`
	Forget orphansForgetCmd `cmd:"" help:"Take an orphan off a tenant's list (removed by hand, or harmless), recorded with your name and reason (10241)."`
}

type orphansListCmd struct {
	api
	Tenant string `help:"Only this tenant's (its id or key); default: every tenant's."`
}

func (c orphansListCmd) Run() error { return c.run(os.Stdout) }

func (c orphansListCmd) run(out io.Writer) error {
	path := "/orphans"
	if c.Tenant != "" {
		id, err := c.tenantID(c.Tenant)
		if err != nil {
			return err
		}
		path += "?tenant=" + url.QueryEscape(id)
	}
	raw, err := c.request(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	var v struct{ Orphans []domain.Resource }
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("unexpected answer: %s", raw)
	}
	if len(v.Orphans) == 0 {
		fmt.Fprintln(out, "no orphans")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tRESOURCE\tLOCATION\tSINCE")
	for _, o := range v.Orphans {
		fmt.Fprintf(w, "%s\t%s/%s/%s\t%s\t%s\n", o.TenantID, o.Step, o.Kind, o.ID, o.Location, o.CreatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

type orphansForgetCmd struct {
	api
	Tenant   string `arg:"" help:"The tenant's id or key."`
	Resource string `arg:"" help:"The orphan as orphans list prints it: step/kind/id."`
	Reason   string `required:"" help:"Why it needs no more attention (recorded in the tenant's history)."`
}

func (c orphansForgetCmd) Run() error { return c.run(os.Stdout) }

func (c orphansForgetCmd) run(out io.Writer) error {
	step, rest, ok1 := strings.Cut(c.Resource, "/")
	kind, id, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || step == "" || kind == "" || id == "" {
		return fmt.Errorf("resource %q: want step/kind/id, as orphans list prints it", c.Resource)
	}
	tenantID, err := c.tenantID(c.Tenant)
	if err != nil {
		return err
	}
	if _, err := c.request(http.MethodPost, "/tenants/"+tenantID+"/orphans/forget",
		map[string]string{"step": step, "kind": kind, "id": id, "reason": c.Reason}); err != nil {
		return err
	}
	fmt.Fprintf(out, "forgot %s of tenant %s\n", c.Resource, tenantID)
	return nil
}

type orphansRetryCmd struct {
	api
	Tenant string `arg:"" help:"The tenant's id or key (PROVISION_FAILED or INACTIVE)."`
}

func (c orphansRetryCmd) Run() error { return c.run(os.Stdout) }

// run asks for tenant.undo.retry_requested; the running handlers do the
// rest (follow it with tenantctl orphans list or status).
func (c orphansRetryCmd) run(out io.Writer) error {
	tenantID, err := c.tenantID(c.Tenant)
	if err != nil {
		return err
	}
	if _, err := c.request(http.MethodPost, "/tenants/"+tenantID+"/orphans/retry", nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "undos of tenant %s run again; follow with: tenantctl orphans list --tenant %s\n", tenantID, tenantID)
	return nil
}

// tenantID is the id of the tenant named by id or key, asked of the API
// (GET /tenants?keyPrefix=, 10207) when it is a key.
func (a api) tenantID(idOrKey string) (string, error) {
	if id, err := uuid.Parse(idOrKey); err == nil {
		return id.String(), nil
	}
	raw, err := a.request(http.MethodGet, "/tenants?limit=200&keyPrefix="+url.QueryEscape(idOrKey), nil)
	if err != nil {
		return "", err
	}
	var page struct {
		Tenants []struct{ ID, Key string }
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return "", fmt.Errorf("unexpected answer: %s", raw)
	}
	for _, t := range page.Tenants {
		if t.Key == idOrKey {
			return t.ID, nil
		}
	}
	return "", fmt.Errorf("no tenant has id or key %q", idOrKey)
}
