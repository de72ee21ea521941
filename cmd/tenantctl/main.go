// Command tenantctl is the operator CLI for tenantflow. Later issues add
// migrate, replay, history and events; this skeleton checks configuration and
// readiness.
package main

import (
	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Config  configCmd  `cmd:"" help:"Validate the TENANTFLOW_* configuration and print it with secrets hidden."`
	Ready   readyCmd   `cmd:"" help:"Ask a running tenantd whether it is ready; exit 1 if not."`
	Version versionCmd `cmd:"" help:"Print the version."`
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
