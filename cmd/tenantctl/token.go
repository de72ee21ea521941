package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/internal/config"
	"github.com/tenantflow/tenantflow/platform/auth"
)

type tokenCmd struct {
	Permissions []string      `required:"" sep:"," help:"Permission codes to grant, e.g. 10216,10207 (10200 CreateLead, 10203 ViewLead, 10204 CreateTenant, 10205 UpdateTenant, 10206 DeleteTenant, 10207 ViewTenant, 10216 ProvisionTenant)."`
	TTL         time.Duration `name:"ttl" default:"1h" help:"How long the token is valid."`
	Subject     string        `default:"tenantctl" help:"The token's subject (who acts)."`
}

// Run prints a development token signed with TENANTFLOW_JWT_SECRET.
func (c tokenCmd) Run() error { return c.run(os.Stdout, time.Now()) }

func (c tokenCmd) run(out io.Writer, now time.Time) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.JWTSecret == "" {
		return errors.New("TENANTFLOW_JWT_SECRET is not set: eval \"$(devstack/devstack.sh env)\" first")
	}
	for _, p := range c.Permissions {
		if !slices.Contains(auth.Known, p) {
			return fmt.Errorf("unknown permission code %q (known: %v)", p, auth.Known)
		}
	}
	signer, err := auth.NewHS256(cfg.JWTSecret, cfg.JWTIssuer)
	if err != nil {
		return err
	}
	tok, err := signer.Mint(c.Subject, c.Permissions, "", c.TTL, now)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
