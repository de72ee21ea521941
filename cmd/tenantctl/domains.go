package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"

	dnsstep "github.com/tenantflow/tenantflow/handlers/dns"

	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/app"
)

type domainsCmd struct {
	Tenant   string `help:"Only this tenant (id or key); default: every ACTIVE tenant."`
	Resolver string `help:"Recursive resolver to ask, host:port; default: the first nameserver of /etc/resolv.conf."`
	JSON     bool   `name:"json" help:"Print the report as JSON."`
}

// Run asks a resolver whether each customer's own domain (outside the
// platform's zone) points at its tenant's platform name and carries the
// ownership TXT record; exit 1 when one does not.
func (c domainsCmd) Run() error { return c.run(context.Background(), os.Stdout) }

func (c domainsCmd) run(ctx context.Context, out io.Writer) error {
	resolver := c.Resolver
	if resolver == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return fmt.Errorf("no resolver: pass --resolver host:port (reading /etc/resolv.conf: %v)", err)
		}
		resolver = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	store, _, done, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	ids, err := activeTenantIDs(ctx, store, c.Tenant)
	if err != nil {
		return err
	}
	tenants := app.Tenants(store)
	checks := []dnsstep.DomainCheck{}
	for _, id := range ids {
		t, err := tenants.Get(ctx, id)
		if err != nil {
			return err
		}
		checks = append(checks, dnsstep.CheckCustomDomains(ctx, resolver, t)...)
	}
	failed := 0
	for _, ch := range checks {
		if !ch.OK() {
			failed++
		}
	}
	if c.JSON {
		if err := json.NewEncoder(out).Encode(map[string]any{"resolver": resolver, "domains": checks}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "asked %s about %d custom domains of %d tenants\n", resolver, len(checks), len(ids))
		for _, ch := range checks {
			state := "OK"
			switch {
			case ch.Error != "":
				state = "NOT CHECKED (" + ch.Error + ")"
			case !ch.Pointed:
				state = fmt.Sprintf("NOT POINTED: create CNAME %s -> %s (answers %v)", ch.Domain, ch.CNAME, ch.Answer)
			case !ch.Proven:
				state = fmt.Sprintf("NOT PROVEN: create TXT %s \"%s\"", ch.TXTName, ch.TXTValue)
			}
			fmt.Fprintf(out, "%s (%s): %s %s\n", ch.Key, ch.TenantID, ch.Domain, state)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d custom domains do not point where they should", failed)
	}
	return nil
}
