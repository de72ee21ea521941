// Command appplane-agent is the reference application-plane agent: it
// deploys tenants the control plane asks for by running a command (render a
// configuration, call kubectl or helm...) and reports the result, signed.
// The command gets TENANT_ID, TENANT_KEY, TENANT_TIER, TENANT_ISOLATION,
// TENANT_PIPELINE (the plan's metaData.pipelineName; the undo command gets
// it too), TENANT_SIZE and TENANT_SIZE_CONFIG (the plan's size and its
// sizeConfig as JSON text), TENANT_DOMAINS and ATTEMPT in its environment; its first output line, if any, is reported as
// the tenant's endpoint. It needs only the brokers, the topic and the agent
// key (flags or TENANTFLOW_KAFKA_BROKERS, _KAFKA_TOPIC, _AGENT_KEY): never
// the control plane's signing key. It signs in to the brokers with
// TENANTFLOW_KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD, _TLS and
// _TLS_CA_FILE as the agent's principal, which the ACLs let read the event
// topic and write dead letters only.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

type cli struct {
	Brokers  []string `required:"" env:"TENANTFLOW_KAFKA_BROKERS" help:"Kafka bootstrap brokers."`
	Topic    string   `default:"tenant.events.v1" env:"TENANTFLOW_KAFKA_TOPIC" help:"The control plane's event topic."`
	AgentKey string   `required:"" env:"TENANTFLOW_AGENT_KEY" help:"64 hex characters, shared with the control plane: unseals report secrets."`
	Control  string   `required:"" help:"Base URL of tenantd, where reports go."`
	Deploy   []string `required:"" sep:"none" help:"Deploy command and its arguments, one flag per argument (--deploy sh --deploy=-c --deploy '...')."`
	Undo     []string `sep:"none" help:"Undo command and its arguments (repeat the flag per argument). Without one, a deployment leaves nothing to remove and every removal is reported done."`
	Suspend  []string `sep:"none" help:"Command run when a tenant is suspended (repeat the flag per argument); the tenant comes in the environment as for --deploy, with TENANT_ACTION. Without one, a suspension changes nothing here."`
	Resume   []string `sep:"none" help:"Command run when a tenant is reactivated (repeat the flag per argument). A plan change runs --deploy again with the new TENANT_SIZE."`
	Group    string   `default:"appplane.agent" help:"Kafka consumer group."`
	Parallel int      `default:"8" help:"Tenants whose commands may run at once (one tenant's requests always run in order)."`
	State    string   `help:"The file where the agent remembers the requests it carried out, so that a redelivered, redriven or replayed one runs nothing (default: the user's cache directory, per consumer group)."`
	PassEnv  []string `name:"pass-env" help:"Names of variables of the agent's environment the commands get besides PATH, HOME, TMPDIR, locale and proxies (repeatable; kubectl's KUBECONFIG, say). TENANTFLOW_* never passes."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("appplane-agent"), kong.Description("Deploy tenants on request of tenantflow and report back."))
	key, err := deployauth.ParseKey(c.AgentKey)
	if err != nil {
		kctx.Fatalf("TENANTFLOW_AGENT_KEY: %v", err)
	}
	kctx.FatalIfErrorf(kafka.Current().Validate())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if c.State == "" {
		dir, err := os.UserCacheDir()
		kctx.FatalIfErrorf(err)
		c.State = filepath.Join(dir, "tenantflow", "appplane-agent-"+c.Group+".json")
	}
	handled, err := OpenLedger(c.State)
	kctx.FatalIfErrorf(err)
	a := Agent{Handled: handled, AgentKey: key, Command: c.Deploy, UndoCommand: c.Undo, SuspendCommand: c.Suspend, ResumeCommand: c.Resume,
		ControlURL: c.Control, Logger: logger, PassEnv: c.PassEnv}
	err = a.Run(ctx, c.Brokers, c.Topic, c.Group, c.Parallel)
	if ctx.Err() == nil {
		kctx.FatalIfErrorf(err)
	}
}
