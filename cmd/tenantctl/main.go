// Command tenantctl is the operator CLI for tenantflow: configuration and
// readiness checks, database migrations, development tokens, and a client of
// the REST API for the sign-up path and tenant queries. Later issues add replay.
package main

import (
	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Config       configCmd       `cmd:"" help:"Validate the TENANTFLOW_* configuration and print it with secrets hidden."`
	Migrate      migrateCmd      `cmd:"" help:"Apply pending database migrations and check the event log (tenantd also migrates at start)."`
	Ready        readyCmd        `cmd:"" help:"Ask a running tenantd whether it is ready; exit 1 if not."`
	Login        loginCmd        `cmd:"" help:"Sign in to the operators' realm (device sign-in for people, --client-credentials for scripts) and keep the token for the other commands."`
	Logout       logoutCmd       `cmd:"" help:"Forget the token tenantctl login kept."`
	Token        tokenCmd        `cmd:"" help:"Development only: mint a bearer token from TENANTFLOW_JWT_SECRET (operators sign in with tenantctl login)."`
	Lead         leadCmd         `cmd:"" help:"Sign-up: create, verify and turn a lead into its tenant."`
	Tenant       tenantCmd       `cmd:"" help:"Create, provision, show, list tenants and their history."`
	Status       statusCmd       `cmd:"" help:"Follow a tenant live until it settles; exit 0 on ACTIVE, 1 on failure (for scripts)."`
	History      historyCmd      `cmd:"" help:"A tenant's timeline: time, event, actor, step duration, error."`
	Events       eventsCmd       `cmd:"" help:"Read the log: tail (with --follow) and get a stream."`
	Export       exportCmd       `cmd:"" help:"The log as NDJSON between two times or positions, for offline analytics."`
	Verify       verifyCmd       `cmd:"" help:"Check the log's hash chains and seals; name the first event that does not match."`
	Drift        driftCmd        `cmd:"" help:"Compare ACTIVE tenants' recorded resources with the live systems; exit 1 on drift."`
	Domains      domainsCmd      `cmd:"" help:"Ask a resolver whether customers' own domains point at their tenants (CNAME) and are proven (TXT); exit 1 when one is not."`
	Replay       replayCmd       `cmd:"" help:"Rebuild a projection from the log into fresh tables, then switch queries over to them."`
	DLQ          dlqCmd          `cmd:"" name:"dlq" help:"Dead letters: records no handler could decode, and the tenants held back behind them."`
	Relay        relayCmd        `cmd:"" help:"Records the broker refused for good: list them, release their streams."`
	Orphans      orphansCmd      `cmd:"" help:"What undos could not remove, for an operator to clean."`
	Erase        eraseCmd        `cmd:"" help:"Erase a person's personal data (crypto-shredding): --lead ID or --contact EMAIL, with --reason."`
	ExportTenant exportTenantCmd `cmd:"" name:"export-tenant" help:"Copy a live tenant's database schema (pg_dump) and bucket into an archive directory, with a manifest of SHA-256 sums; before an offboarding's purge."`
	Version      versionCmd      `cmd:"" help:"Print the version."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("tenantctl"),
		kong.Description("Operate tenantflow: the event-sourced tenant provisioning control plane."),
		kong.UsageOnError(),
	)
	ctx.FatalIfErrorf(ctx.Run())
}
