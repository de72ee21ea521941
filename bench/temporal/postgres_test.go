package temporal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // the postgres12 plugin
	"go.temporal.io/server/temporal"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The baseline as its operators would run it: Temporal's four services in
// this process, persisting to the dev stack's PostgreSQL (databases of the
// run's own, their schemas set up by Temporal's own temporal-sql-tool from
// the schemas embedded in the server module), with these settings:
//
//   - History shards: postgresShards (128 unless
//     TENANTFLOW_BENCH_TEMPORAL_SHARDS says otherwise). Temporal's documentation
//     ("What is a History Shard?") says a shard admits one database operation
//     at a time and each shard costs compute; all updates to a shard share one
//     lock (Temporal's CTO on the community forum, "Update history shards").
//     The closed loops keep at most 128 workflows running, so 128 shards let
//     each run's workflows write without waiting on one another's shard lock,
//     at the low end of the 128–512 its sizing guides give small clusters.
//   - Persistence pool: 64 connections for the history store and 16 for
//     visibility (Temporal's default is 20): enough for 128 shards' writes in
//     flight, within the dev stack's max_connections.
//   - Worker: poller autoscaling for workflow and activity tasks (the SDK's
//     PollerBehaviorAutoscaling, Temporal's worker performance guidance for
//     a worker whose load varies), eager activity execution and eager
//     workflow start (both on by default on the server; the client asks for
//     eager start per workflow).
//   - Task-queue partitions: the server's default of 4.
//
// TENANTFLOW_BENCH_TEMPORAL_STORE=sqlite runs temporaltest's in-memory SQLite
// server instead (one shard, one connection): the figure of the runs before
// 2026-12-07, kept for comparison only.
const (
	postgresMaxConns         = 64
	visibilityMaxConns       = 16
	benchNamespace           = "default"
	defaultShards      int32 = 128
)

func postgresShards() int32 {
	if n, err := strconv.Atoi(os.Getenv("TENANTFLOW_BENCH_TEMPORAL_SHARDS")); err == nil && n > 0 {
		return int32(n)
	}
	return defaultShards
}

// pgTarget is where the dev stack's PostgreSQL is, and the role that may
// create databases there: TENANTFLOW_DATABASE_MIGRATE_URL's (make bench
// exports the dev stack's settings; the runtime role may not).
type pgTarget struct{ host, port, user, password string }

func devStackPostgres() (pgTarget, error) {
	raw := os.Getenv("TENANTFLOW_DATABASE_MIGRATE_URL")
	if raw == "" {
		return pgTarget{}, errors.New("TENANTFLOW_DATABASE_MIGRATE_URL is not set: run the baseline through make bench (it uses the dev stack's PostgreSQL)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return pgTarget{}, errors.New("TENANTFLOW_DATABASE_MIGRATE_URL: not a URL")
	}
	pw, _ := u.User.Password()
	return pgTarget{host: u.Hostname(), port: u.Port(), user: u.User.Username(), password: pw}, nil
}

// sqlTool runs Temporal's temporal-sql-tool against db (it exits the
// process on failure, after saying why).
func (p pgTarget) sqlTool(db string, args ...string) error {
	base := []string{"temporal-sql-tool", "--plugin", "postgres12", "--ep", p.host, "--port", p.port,
		"--user", p.user, "--password", p.password, "--db", db}
	return sqltool.RunTool(append(base, args...))
}

// setUp creates db and applies Temporal's embedded schema to it
// (postgresql/v12/temporal or postgresql/v12/visibility).
func (p pgTarget) setUp(db, schema string) error {
	if err := p.sqlTool(db, "create-database"); err != nil {
		return err
	}
	if err := p.sqlTool(db, "setup-schema", "-v", "0.0"); err != nil {
		return err
	}
	return p.sqlTool(db, "update-schema", "--schema-name", schema)
}

// nextPort is where freePort looks next. Temporal stores a service's
// membership port in a smallint column, so the ports stay below 32768,
// under the kernel's ephemeral range and above the dev stack's (17111).
var nextPort = 17200

func freePort() int {
	for ; nextPort < 32768; nextPort++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", nextPort))
		if err == nil {
			_ = l.Close()
			nextPort++
			return nextPort - 1
		}
	}
	panic("no free port below 32768 for Temporal's services")
}

// serveOnPostgres starts the server with its databases and the default
// namespace registered; stop ends it and drops its databases.
func serveOnPostgres() (hostPort string, dbs []string, stop func(), err error) {
	pg, err := devStackPostgres()
	if err != nil {
		return "", nil, nil, err
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	db, vis := "temporal_bench_"+run, "temporal_bench_"+run+"_visibility"
	if err := pg.setUp(db, "postgresql/v12/temporal"); err != nil {
		return "", nil, nil, err
	}
	if err := pg.setUp(vis, "postgresql/v12/visibility"); err != nil {
		_ = pg.sqlTool(db, "drop-database", "--force")
		return "", nil, nil, err
	}
	drop := func() {
		_ = pg.sqlTool(db, "drop-database", "--force")
		_ = pg.sqlTool(vis, "drop-database", "--force")
	}
	store := func(name string, conns int) config.DataStore {
		return config.DataStore{SQL: &config.SQL{PluginName: "postgres12", DatabaseName: name,
			ConnectAddr: net.JoinHostPort(pg.host, pg.port), ConnectProtocol: "tcp", User: pg.user, Password: pg.password,
			MaxConns: conns, MaxIdleConns: conns, MaxConnLifetime: time.Hour}}
	}
	frontend := freePort()
	service := func(grpc int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: freePort(), BindOnLocalHost: true}}
	}
	hostPort = fmt.Sprintf("127.0.0.1:%d", frontend)
	cfg := &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}},
		Persistence: config.Persistence{DefaultStore: "postgres", VisibilityStore: "postgres-visibility", NumHistoryShards: postgresShards(),
			DataStores: map[string]config.DataStore{"postgres": store(db, postgresMaxConns), "postgres-visibility": store(vis, visibilityMaxConns)}},
		ClusterMetadata: &cluster.Config{EnableGlobalNamespace: false, FailoverVersionIncrement: 10, MasterClusterName: "active", CurrentClusterName: "active",
			ClusterInformation: map[string]cluster.ClusterInformation{"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort}}},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{"frontend": service(frontend), "history": service(freePort()),
			"matching": service(freePort()), "worker": service(freePort())},
		Archival: config.Archival{History: config.HistoryArchival{State: "disabled"}, Visibility: config.VisibilityArchival{State: "disabled"}},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History: config.HistoryArchivalNamespaceDefaults{State: "disabled"}, Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"}}},
		PublicClient: config.PublicClient{HostPort: hostPort},
	}
	srv, err := temporal.NewServer(temporal.ForServices(temporal.DefaultServices), temporal.WithConfig(cfg),
		temporal.WithLogger(log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "error"}))),
		temporal.WithDynamicConfigClient(dynamicconfig.NewMemoryClient()))
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		drop()
		return "", nil, nil, err
	}
	stop = func() { _ = srv.Stop(); drop() }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, err := client.NewNamespaceClient(client.Options{HostPort: hostPort})
	if err != nil {
		stop()
		return "", nil, nil, err
	}
	defer ns.Close()
	for {
		err := ns.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: benchNamespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
		var exists *serviceerror.NamespaceAlreadyExists // a try that timed out after the server registered it
		if err == nil || errors.As(err, &exists) {
			break
		}
		if ctx.Err() != nil {
			stop()
			return "", nil, nil, fmt.Errorf("register namespace %s: %w", benchNamespace, err)
		}
		time.Sleep(200 * time.Millisecond) // the server's services are still joining
	}
	return hostPort, []string{db, vis}, stop, nil
}

// vacuum runs VACUUM ANALYZE in each of the server's databases, as the
// tenantflow benchmark does in its own before each loop.
func vacuum(dbs []string) error {
	for _, db := range dbs {
		u, err := url.Parse(os.Getenv("TENANTFLOW_DATABASE_MIGRATE_URL")) // devStackPostgres checked it
		if err != nil {
			return err
		}
		u.Path = "/" + db
		conn, err := pgx.Connect(context.Background(), u.String())
		if err != nil {
			return err
		}
		_, err = conn.Exec(context.Background(), "vacuum analyze")
		_ = conn.Close(context.Background())
		if err != nil {
			return fmt.Errorf("vacuum analyze %s: %w", db, err)
		}
	}
	return nil
}
