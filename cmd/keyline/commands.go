package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/telemetry"
	"github.com/keyline/keyline/projections"
)

func runCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "start the API server",
		Long: `Start the API server. Without --config it runs on the embedded default:
127.0.0.1:7070 only, SQLite at ./data/keyline.db, an in-process event log,
no Redis, no ClickHouse. On the first start of an empty store it creates the
default workspace and a root key with every permission, and prints that key
once. SIGINT or SIGTERM drain the listener and stop it.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			logger := newLogger(cfg, stderr)
			telemetry.RouteLibraryLogs(logger)
			err = serve(ctx, cfg, logger, stdout)
			if err != nil && cfg.Logs.JSON() {
				logger.Error("keyline run failed", "error", cliMessage(err))
				return errLogged
			}
			return err
		}),
	}
}

// serve runs the server until ctx ends. The tracer provider is installed
// before anything is built, since components choose their tracer then, and
// flushed last, after the shutdown's own spans.
func serve(ctx context.Context, cfg *configs.Config, logger *slog.Logger, stdout io.Writer) (err error) {
	logger.Debug("garbage collector target", "gcPercent", runtime.TuneGC())
	info, _ := debug.ReadBuildInfo()
	stopTracing, err := telemetry.Setup(cfg, describeBuild(info).Version, logger)
	if err != nil {
		return err
	}
	defer func() {
		if ferr := stopTracing(context.Background()); ferr != nil {
			logger.Warn("tracing: final flush failed", "error", ferr)
		}
	}()
	srv, cleanup, err := keyline.InitializeServer(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	defer cleanup()
	return srv.Run(ctx)
}

func bootstrapCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "bootstrap --workspace NAME [--permissions p1,p2,...]",
		Short: "create a workspace (or reuse it) and a root key in it",
		Long: `Create the workspace NAME (or reuse it) and a new root key in it (default:
every permission). Prints one JSON line:
  {"workspaceId":"ws_...","rootKeyId":"key_...","rootKey":"..."}
Safe while a server runs on the same store; it accepts the key at once. An
unknown permission is refused and nothing is created.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace"); err != nil {
				return err
			}
			workspace, _ := cmd.Flags().GetString("workspace")
			perms, _ := cmd.Flags().GetString("permissions")
			return printAdmin(ctx, configPath(cmd), stdout, stderr, func(admin *runtime.Admin) (any, error) {
				return admin.BootstrapRootKey(ctx, workspace, commaList(perms))
			})
		}),
	}
	c.Flags().String("workspace", "", "workspace name (required); an existing workspace of that name is reused")
	c.Flags().String("permissions", "", "comma-separated root key permissions, e.g. api.*.create_api,api.*.read_api (default: every permission)")
	return c
}

func workspaceCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	verb := func(name string, enabled bool, short string) *cobra.Command {
		c := &cobra.Command{
			Use:   name + " --workspace NAME",
			Short: short,
			Long: short + `. While a workspace is disabled, keys.verifyKey answers
FORBIDDEN for every key of it and its root keys get 403 workspace_disabled on
every other endpoint; nothing is deleted. Prints one JSON line:
  {"workspaceId":"ws_...","name":"...","enabled":false,"changed":true}
A repeat changes nothing ("changed":false). Running servers notice within
projections.pollIntervalMs.`,
			Args: noArgs,
			RunE: runE(func(cmd *cobra.Command, _ []string) error {
				if err := required(cmd, "workspace"); err != nil {
					return err
				}
				workspace, _ := cmd.Flags().GetString("workspace")
				return printAdmin(ctx, configPath(cmd), stdout, stderr, func(admin *runtime.Admin) (any, error) {
					return admin.SetWorkspaceEnabled(ctx, workspace, enabled)
				})
			}),
		}
		c.Flags().String("workspace", "", "workspace name (required); it must exist")
		return c
	}
	return group("workspace", "switch a workspace off, or on again",
		"Switch a workspace off, or on again (Unkey does this from its dashboard).",
		verb("disable", false, "switch the workspace off"),
		verb("enable", true, "switch the workspace on again"))
}

func apisCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	allow := &cobra.Command{
		Use:   "allow-ips --api API_ID --ips IP,IP,...",
		Short: "accept an API's verifications only from these client IPs",
		Long: `Accept keys.verifyKey for the API's keys only from these client IPs (exact
IPv4 or IPv6 addresses, no ranges); a request from any other address verifies
as FORBIDDEN and spends nothing. The client IP is the first entry of
X-Forwarded-For, else the connection's peer. --ips '' lifts the restriction.
Prints one JSON line:
  {"apiId":"api_...","workspaceId":"ws_...","ips":["..."],"changed":true}`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "api"); err != nil {
				return err
			}
			// An omitted --ips must not silently clear the list: clearing
			// is asked for.
			if !flagSet(cmd.Flags(), "ips") {
				return usagef("--ips is required (--ips '' clears the allow-list)")
			}
			api, _ := cmd.Flags().GetString("api")
			ips, _ := cmd.Flags().GetString("ips")
			var list []string
			if strings.TrimSpace(ips) != "" {
				list = strings.Split(ips, ",")
			}
			return printAdmin(ctx, configPath(cmd), stdout, stderr, func(admin *runtime.Admin) (any, error) {
				return admin.SetAPIIPAllowlist(ctx, strings.TrimSpace(api), list)
			})
		}),
	}
	allow.Flags().String("api", "", "API ID, api_... (required)")
	allow.Flags().String("ips", "", "comma-separated IPv4/IPv6 addresses (required; '' clears the list)")
	return group("apis", "administer APIs (key spaces) without a root key",
		"Administer APIs (key spaces) directly on the store, without a root key.", allow)
}

func rootkeysCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	list := &cobra.Command{
		Use:   "list --workspace NAME",
		Short: "one JSON line per root key (no secrets), revoked ones included",
		Long: `List the workspace's root keys, one JSON line each, revoked ones included,
never a secret:
  {"rootKeyId":"key_...","workspaceId":"ws_...","name":"...","start":"...",
   "permissions":[...],"configured":false,"createdAt":1764...,"revoked":false}`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace"); err != nil {
				return err
			}
			workspace, _ := cmd.Flags().GetString("workspace")
			admin, cleanup, err := openAdmin(ctx, configPath(cmd), stderr)
			if err != nil {
				return err
			}
			defer cleanup()
			keys, err := admin.ListRootKeys(ctx, workspace)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			for _, k := range keys {
				if err := enc.Encode(k); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	create := &cobra.Command{
		Use:   "create --workspace NAME [--permissions p1,p2,...] [--name NAME]",
		Short: "mint a root key and print it once",
		Long: `Mint a root key in the workspace (default: every permission) and print it
once, as one JSON line like bootstrap's.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace"); err != nil {
				return err
			}
			workspace, _ := cmd.Flags().GetString("workspace")
			name, _ := cmd.Flags().GetString("name")
			perms, _ := cmd.Flags().GetString("permissions")
			return printAdmin(ctx, configPath(cmd), stdout, stderr, func(admin *runtime.Admin) (any, error) {
				return admin.CreateRootKey(ctx, workspace, name, commaList(perms))
			})
		}),
	}
	create.Flags().String("permissions", "", "comma-separated root key permissions, e.g. api.*.create_api,api.*.read_api (default: every permission)")
	create.Flags().String("name", "", "a name to recognise the key by in list (default: cli)")
	revoke := &cobra.Command{
		Use:   "revoke --workspace NAME --id KEY_ID",
		Short: "revoke a root key for good",
		Long: `Revoke a root key for good: it stops working on every running server within
projections.pollIntervalMs (401, like an unknown key). Prints one JSON line:
  {"rootKeyId":"key_...","workspaceId":"ws_...","revoked":true}
An unknown or already revoked ID is an error (exit 1).`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "workspace", "id"); err != nil {
				return err
			}
			workspace, _ := cmd.Flags().GetString("workspace")
			id, _ := cmd.Flags().GetString("id")
			return printAdmin(ctx, configPath(cmd), stdout, stderr, func(admin *runtime.Admin) (any, error) {
				return admin.RevokeRootKey(ctx, workspace, id)
			})
		}),
	}
	revoke.Flags().String("id", "", "root key ID, key_... (required)")
	for _, c := range []*cobra.Command{list, create, revoke} {
		c.Flags().String("workspace", "", "workspace name (required); it must exist")
	}
	return group("rootkeys", "list, create or revoke a workspace's root keys",
		"Manage the root keys of an existing workspace. Each command prints JSON lines.", list, create, revoke)
}

func replayCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	names := append(projections.NewRunner(projections.All()).Names(), analytics.AuditProjection)
	c := &cobra.Command{
		Use:   "replay [--projection NAME]",
		Short: "rebuild read models from the event log",
		Long: `Rebuild read models from the event log (all, or just NAME). Writes wait while
it runs. Shows progress on a terminal, a summary line otherwise. "audit"
rebuilds ClickHouse's audit_log_v1 (needs clickhouse.url).
Projections: ` + strings.Join(names, ", "),
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			name, _ := cmd.Flags().GetString("projection")
			return replay(ctx, configPath(cmd), name, stdout, stderr)
		}),
	}
	c.Flags().String("projection", "", "rebuild only this projection (default: all)")
	_ = c.RegisterFlagCompletionFunc("projection", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func replay(ctx context.Context, config, name string, stdout, stderr io.Writer) error {
	// A replay allocates as a busy server does (a decoded event dies once
	// it is folded) while it holds the whole read model in memory: at Go's
	// default target every collection marks that model again, several
	// times a second.
	runtime.TuneGC()
	admin, cleanup, err := openAdmin(ctx, config, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	var names []string
	if name != "" {
		names = []string{name}
	}
	started := time.Now()
	progress := newProgress(stderr, started)
	n, err := admin.Replay(ctx, names, progress)
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	target := "all projections"
	if name != "" {
		target = "projection " + name
	}
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "replayed %d events into %s in %s (%.0f events/s)\n", n, target,
		elapsed.Round(time.Millisecond), float64(n)/max(elapsed.Seconds(), 1e-9))
	return nil
}

func migrateCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "bring the database and ClickHouse schemas up to date",
		Long: `Bring the database and ClickHouse schemas up to date (keyline run does the
same at start-up) and print the ClickHouse schema version.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			// Opening applies the migrations: the same code path as
			// `keyline run`.
			admin, cleanup, err := openAdmin(ctx, configPath(cmd), stderr)
			if err != nil {
				return err
			}
			defer cleanup()
			fmt.Fprintln(stdout, "database schema up to date")
			ch := admin.ClickHouse
			if ch == nil {
				fmt.Fprintln(stdout, "clickhouse not configured")
				return nil
			}
			versions, err := ch.AppliedVersions(ctx)
			if err != nil {
				return err
			}
			var latest uint32
			for v := range versions {
				latest = max(latest, v)
			}
			fmt.Fprintf(stdout, "clickhouse schema version %d (%d steps applied now, server %s)\n",
				latest, ch.MigrationsApplied, ch.Version)
			return nil
		}),
	}
}

func consumeCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "consume [--group NAME] [--from beginning|latest]",
		Short: "print every event and analytics record as JSON lines",
		Long: `Print every management event and every analytics record as one JSON line on
stdout, as a member of consumer group NAME: a restart resumes where it
stopped. With redis.url the sources are the Redis streams keyline.events and
keyline.analytics (under redis.streamPrefix); without Redis they are the
database's events table and its local analytics store, read by position with
the group's offsets kept in the database. At-least-once: deduplicate by the
"id" field.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			group, _ := cmd.Flags().GetString("group")
			consumer, _ := cmd.Flags().GetString("consumer")
			from, _ := cmd.Flags().GetString("from")
			if from != "beginning" && from != "latest" {
				return usagef("--from must be beginning or latest, got %q", from)
			}
			if strings.TrimSpace(group) == "" {
				return usagef("--group must not be empty")
			}
			return consume(ctx, configPath(cmd), group, consumer, from == "beginning", stdout, stderr)
		}),
	}
	c.Flags().String("group", "keyline-consume", "consumer group; a restarted consumer of the same group resumes where it stopped")
	c.Flags().String("consumer", "", "consumer name within the group, Redis only (default: cluster.nodeId or the host name)")
	c.Flags().String("from", "beginning", "where a new group starts: beginning (oldest retained event) or latest")
	_ = c.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]string{"beginning", "latest"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func consume(ctx context.Context, config, group, consumer string, fromBeginning bool, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(config)
	if err != nil {
		return err
	}
	// Losses (records trimmed before the group read them) are reported on
	// stderr: stdout carries only the JSON lines.
	warn := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.Redis == nil || cfg.Redis.URL == "" {
		// No Redis: the events table and the local analytics store are the
		// streams, read by position with the group's offsets in the database.
		db, cleanup, err := sqlstore.Open(ctx, cfg.Database)
		if err != nil {
			return err
		}
		defer cleanup()
		c, err := analytics.NewLocalConsumer(ctx, db, cfg.Analytics.Retention, group, warn)
		if err != nil {
			return err
		}
		return c.Run(ctx, fromBeginning, stdout)
	}
	client, err := redisstream.NewClient(ctx, cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer client.Close()
	if consumer == "" {
		consumer = analytics.ConsumerName(cfg)
	}
	return analytics.NewConsumer(client, cfg.Redis, group, consumer, warn).Run(ctx, fromBeginning, stdout)
}

func clusterCommand(ctx context.Context, stdout, _ io.Writer) *cobra.Command {
	members := &cobra.Command{
		Use:   "members [--addr HOST:PORT]",
		Short: "list the cluster's members as a running node sees them",
		Long: `List the cluster's members as a running node sees them (node ID, address,
state, region, last heartbeat). Asks the node's RPC port, by default the local
node at 127.0.0.1:cluster.rpcPort, with cluster.secret from the config.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			addr, _ := cmd.Flags().GetString("addr")
			return listMembers(ctx, configPath(cmd), addr, stdout)
		}),
	}
	members.Flags().String("addr", "", "RPC address of the node to ask (default: 127.0.0.1:cluster.rpcPort)")
	return group("cluster", "inspect the cluster", "Inspect the cluster through a running node's RPC port.", members)
}

func listMembers(ctx context.Context, config, addr string, stdout io.Writer) error {
	cfg, err := loadConfig(config)
	if err != nil {
		return err
	}
	if cfg.Cluster == nil {
		return errors.New("the config has no cluster section: this node is not clustered")
	}
	if addr == "" {
		addr = "127.0.0.1:" + cfg.Cluster.RPCPort
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client, err := cluster.NewClientFor(cfg.Cluster, 5*time.Second)
	if err != nil {
		return err
	}
	resp, err := client.Members(ctx, addr)
	if err != nil {
		return fmt.Errorf("asking the node at %s: %w", addr, err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE ID\tADDRESS\tRPC\tSTATE\tREGION\tLAST HEARTBEAT")
	for _, m := range resp.Members {
		id := m.NodeID
		if m.Self {
			id += " (self)"
		}
		hb := "-"
		if !m.LastHeartbeat.IsZero() {
			hb = m.LastHeartbeat.UTC().Format(time.RFC3339) + " (" + time.Since(m.LastHeartbeat).Round(time.Second).String() + " ago)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", id, m.GossipAddr, m.RPCAddr, m.State, m.Region, hb)
	}
	return w.Flush()
}

func versionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, revision and build time of this binary",
		Long: `Print the version, the VCS revision and the build time of this binary, one
"name: value" line each (also: keyline --version).`,
		Args: noArgs,
		RunE: runE(func(*cobra.Command, []string) error { return printVersion(stdout) }),
	}
}

// newProgress draws a live progress line on a terminal and stays silent
// otherwise, so logs and pipes get only the summary line.
func newProgress(w io.Writer, started time.Time) projections.Progress {
	if !isTerminal(w) {
		return nil
	}
	return func(done, total int64) {
		elapsed := time.Since(started).Seconds()
		rate := float64(done) / max(elapsed, 1e-9)
		eta := "?"
		if rate > 0 && total >= done {
			eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		fmt.Fprintf(w, "\r%d/%d events  %.0f events/s  ETA %s   ", done, total, rate, eta)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
