package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/telemetry"
	"github.com/keyline/keyline/projections"
)

const usage = `keyline: a self-hosted API-key and rate-limit server (Unkey v2 compatible).

Usage:
  keyline run [--config FILE]
      Start the API server. Without --config it runs on the embedded default:
      127.0.0.1:7070 only, SQLite at ./data/keyline.db, an in-process event
      log, no Redis, no ClickHouse. On the first start of an empty store it creates the default
      workspace and a root key with every permission, and prints that key once.

  keyline bootstrap [--config FILE] --workspace NAME [--permissions p1,p2,...]
      Create the workspace NAME (or reuse it) and a new root key in it
      (default: every permission). Prints one JSON line:
      {"workspaceId":"ws_...","rootKeyId":"key_...","rootKey":"..."}
      Safe while a server runs on the same store; it accepts the key at once.

  keyline workspace disable|enable [--config FILE] --workspace NAME
      Switch the workspace NAME off, or on again (Unkey does this from its
      dashboard). While it is disabled, keys.verifyKey answers FORBIDDEN for
      every key of it and its root keys get 403 workspace_disabled on every
      other endpoint; nothing is deleted. Prints one JSON line:
      {"workspaceId":"ws_...","name":"...","enabled":false,"changed":true}
      A repeat changes nothing ("changed":false). Running servers notice
      within projections.pollIntervalMs.

  keyline apis allow-ips [--config FILE] --api API_ID --ips IP,IP,...
      Accept keys.verifyKey for the API's keys only from these client IPs
      (exact IPv4 or IPv6 addresses, no ranges); a request from any other
      address verifies as FORBIDDEN and spends nothing. The client IP is the
      first entry of X-Forwarded-For, else the connection's peer. --ips ''
      lifts the restriction. Prints one JSON line:
      {"apiId":"api_...","workspaceId":"ws_...","ips":["..."],"changed":true}

  keyline rootkeys list|create|revoke [--config FILE] --workspace NAME [...]
      Manage the root keys of the existing workspace NAME. Each prints JSON
      lines. list: one line per key, revoked ones included, never a secret:
      {"rootKeyId":"key_...","workspaceId":"ws_...","name":"...","start":"...",
       "permissions":[...],"configured":false,"createdAt":1764...,"revoked":false}
      create [--permissions p1,p2,...] [--name NAME]: a new key (default:
      every permission), printed once like bootstrap's.
      revoke --id KEY_ID: the key stops working on every running server
      within projections.pollIntervalMs (401, like an unknown key), for good.
      {"rootKeyId":"key_...","workspaceId":"ws_...","revoked":true}
      An unknown or already revoked ID is an error (exit 1).

` + portalsUsage + `
  keyline replay [--config FILE] [--projection NAME]
      Rebuild read models from the event log (all, or just NAME). Writes wait
      while it runs. Shows progress on a terminal, a summary line otherwise.
      "audit" rebuilds ClickHouse's audit_log_v1 (needs clickhouse.url).

  keyline migrate [--config FILE]
      Bring the database and ClickHouse schemas up to date (keyline run does
      the same at start-up) and print the ClickHouse schema version.

  keyline consume [--config FILE] [--group NAME] [--from beginning|latest]
      Print every management event (Redis stream keyline.events) and every
      analytics record (keyline.analytics) as one JSON line on stdout, as a
      member of consumer group NAME: a restart resumes where it stopped.
      At-least-once: deduplicate by the "id" field. Needs redis.url.

  keyline cluster members [--config FILE] [--addr HOST:PORT]
      List the cluster's members as a running node sees them (node ID,
      address, state, region, last heartbeat). Asks the node's RPC port,
      by default the local node at 127.0.0.1:cluster.rpcPort, with
      cluster.secret from the config.

  keyline health [--config FILE] [--url URL]
      The container health check: GET the local node's /v2/liveness
      (http(s)://127.0.0.1:httpPort, https trusting exactly tls.certFile)
      and exit 0 when it answers 200, 1 otherwise, with a one-line reason.
      --timeout bounds the wait (default 5s).

  keyline version
      Print the version, the VCS revision and the build time of this binary
      (also: keyline --version).

Run 'keyline COMMAND --help' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "version", "--version":
		err = versionCmd(args[1:], stdout)
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "bootstrap":
		err = bootstrapCmd(ctx, args[1:], stdout, stderr)
	case "workspace":
		err = workspaceCmd(ctx, args[1:], stdout, stderr)
	case "apis":
		err = apisCmd(ctx, args[1:], stdout, stderr)
	case "rootkeys":
		err = rootkeysCmd(ctx, args[1:], stdout, stderr)
	case "portals":
		err = portalsCmd(ctx, args[1:], stdout, stderr)
	case "replay":
		err = replayCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdout, stderr)
	case "consume":
		err = consumeCmd(ctx, args[1:], stdout, stderr)
	case "cluster":
		err = clusterCmd(ctx, args[1:], stdout, stderr)
	case "health":
		err = healthCmd(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "keyline: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errLogged) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "keyline %s: %s\n", args[0], cliMessage(err))
		return 1
	}
	return 0
}

// cliMessage is what an operator reads: a use case's public detail without
// the API's error URN; internal failures keep their cause.
func cliMessage(err error) string {
	var e *handlers.Error
	if errors.As(err, &e) && e.Code != handlers.CodeUnexpected {
		return e.Detail
	}
	return err.Error()
}

func newFlags(name, summary string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("keyline "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "path to a JSON config file (see configs/schema.json); default: the embedded SQLite setup")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags:\n", summary)
		fs.PrintDefaults()
	}
	return fs, config
}

func loadConfig(path string) (*configs.Config, error) {
	if path == "" {
		return configs.Default(), nil
	}
	return configs.Load(path, os.LookupEnv)
}

// openAdmin loads the config at path (the embedded default when empty) and
// assembles the administrative process on it.
func openAdmin(ctx context.Context, path string, stderr io.Writer) (*runtime.Admin, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	return keyline.InitializeAdmin(ctx, cfg, newLogger(cfg, stderr))
}

func newLogger(cfg *configs.Config, w io.Writer) *slog.Logger {
	return telemetry.NewLogger(cfg.Logs, w, cfg.Tracing.Enabled())
}

// errLogged is a failure that was already logged in the configured format,
// so Main must not print it again as plain text.
var errLogged = errors.New("logged")

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("run", "keyline run [--config FILE]: start the API server.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*config)
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

func bootstrapCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("bootstrap",
		"keyline bootstrap [--config FILE] --workspace NAME [--permissions p1,p2,...]: create a workspace (or reuse it) and a root key in it.", stderr)
	workspace := fs.String("workspace", "", "workspace name (required); an existing workspace of that name is reused")
	perms := fs.String("permissions", "", "comma-separated root key permissions, e.g. api.*.create_api,api.*.read_api (default: every permission)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*workspace) == "" {
		fs.Usage()
		return errors.New("--workspace is required")
	}
	var list []string
	for _, p := range strings.Split(*perms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	return printAdmin(ctx, *config, stdout, stderr, func(admin *runtime.Admin) (any, error) {
		return admin.BootstrapRootKey(ctx, *workspace, list)
	})
}

// printAdmin opens the store of the config at path, runs op on it and
// prints op's answer as one JSON line: the shape of every command that
// changes the store without a server.
func printAdmin(ctx context.Context, path string, stdout, stderr io.Writer, op func(*runtime.Admin) (any, error)) error {
	admin, cleanup, err := openAdmin(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	out, err := op(admin)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(out)
}

// verb checks that args starts with one of verbs, the form of commands
// with subcommands; -h/--help prints synopsis: summary.
func verb(args []string, stderr io.Writer, synopsis, summary string, verbs ...string) error {
	switch {
	case len(args) > 0 && slices.Contains(verbs, args[0]):
		return nil
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Fprintln(stderr, synopsis+": "+summary)
		return flag.ErrHelp
	}
	return errors.New("usage: " + synopsis)
}

const workspaceSynopsis = "keyline workspace disable|enable [--config FILE] --workspace NAME"

func workspaceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := verb(args, stderr, workspaceSynopsis, "switch a workspace off, or on again.", "disable", "enable"); err != nil {
		return err
	}
	fs, config := newFlags("workspace "+args[0], workspaceSynopsis+
		": switch a workspace off, or on again. While disabled, its keys verify as FORBIDDEN and its root keys get 403.", stderr)
	workspace := fs.String("workspace", "", "workspace name (required); it must exist")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", fs.Arg(0), workspaceSynopsis)
	}
	if strings.TrimSpace(*workspace) == "" {
		fs.Usage()
		return errors.New("--workspace is required")
	}
	return printAdmin(ctx, *config, stdout, stderr, func(admin *runtime.Admin) (any, error) {
		return admin.SetWorkspaceEnabled(ctx, *workspace, args[0] == "enable")
	})
}

const apisSynopsis = "keyline apis allow-ips [--config FILE] --api API_ID --ips IP,IP,..."

func apisCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := verb(args, stderr, apisSynopsis, "set the client IPs an API's keys verify from.", "allow-ips"); err != nil {
		return err
	}
	fs, config := newFlags("apis allow-ips", apisSynopsis+
		": accept verifications of the API's keys only from these exact client IPs; --ips '' lifts the restriction.", stderr)
	api := fs.String("api", "", "API ID, api_... (required)")
	ips := fs.String("ips", "", "comma-separated IPv4/IPv6 addresses (required; '' clears the list)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", fs.Arg(0), apisSynopsis)
	}
	// An omitted --ips must not silently clear the list: clearing is asked for.
	ipsSet := false
	fs.Visit(func(f *flag.Flag) { ipsSet = ipsSet || f.Name == "ips" })
	switch {
	case strings.TrimSpace(*api) == "":
		fs.Usage()
		return errors.New("--api is required")
	case !ipsSet:
		fs.Usage()
		return errors.New("--ips is required (--ips '' clears the allow-list)")
	}
	var list []string
	if strings.TrimSpace(*ips) != "" {
		list = strings.Split(*ips, ",")
	}
	return printAdmin(ctx, *config, stdout, stderr, func(admin *runtime.Admin) (any, error) {
		return admin.SetAPIIPAllowlist(ctx, strings.TrimSpace(*api), list)
	})
}

const rootkeysSynopsis = "keyline rootkeys list|create|revoke [--config FILE] --workspace NAME [...]"

func rootkeysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := verb(args, stderr, rootkeysSynopsis, "list, create or revoke a workspace's root keys.", "list", "create", "revoke"); err != nil {
		return err
	}
	summaries := map[string]string{
		"list":   "keyline rootkeys list [--config FILE] --workspace NAME: one JSON line per root key (no secrets), revoked ones included.",
		"create": "keyline rootkeys create [--config FILE] --workspace NAME [--permissions p1,p2,...] [--name NAME]: mint a root key and print it once.",
		"revoke": "keyline rootkeys revoke [--config FILE] --workspace NAME --id KEY_ID: revoke a root key for good; servers refuse it within projections.pollIntervalMs.",
	}
	fs, config := newFlags("rootkeys "+args[0], summaries[args[0]], stderr)
	workspace := fs.String("workspace", "", "workspace name (required); it must exist")
	var perms, name, id *string
	switch args[0] {
	case "create":
		perms = fs.String("permissions", "", "comma-separated root key permissions, e.g. api.*.create_api,api.*.read_api (default: every permission)")
		name = fs.String("name", "", "a name to recognise the key by in list (default: cli)")
	case "revoke":
		id = fs.String("id", "", "root key ID, key_... (required)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", fs.Arg(0), rootkeysSynopsis)
	}
	switch {
	case strings.TrimSpace(*workspace) == "":
		fs.Usage()
		return errors.New("--workspace is required")
	case id != nil && strings.TrimSpace(*id) == "":
		fs.Usage()
		return errors.New("--id is required")
	}
	if args[0] == "list" {
		admin, cleanup, err := openAdmin(ctx, *config, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		keys, err := admin.ListRootKeys(ctx, *workspace)
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
	}
	return printAdmin(ctx, *config, stdout, stderr, func(admin *runtime.Admin) (any, error) {
		if args[0] == "revoke" {
			return admin.RevokeRootKey(ctx, *workspace, *id)
		}
		return admin.CreateRootKey(ctx, *workspace, *name, commaList(*perms))
	})
}

// commaList splits a comma-separated flag value, dropping empty entries.
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("replay",
		"keyline replay [--config FILE] [--projection NAME]: rebuild read models from the event log.\nProjections: "+
			strings.Join(append(projections.NewRunner(projections.All()).Names(), analytics.AuditProjection), ", "), stderr)
	name := fs.String("projection", "", "rebuild only this projection (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	admin, cleanup, err := openAdmin(ctx, *config, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	var names []string
	if *name != "" {
		names = []string{*name}
	}
	started := time.Now()
	progress := newProgress(stderr, started)
	n, err := admin.Replay(ctx, names, progress)
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	target := "all projections"
	if *name != "" {
		target = "projection " + *name
	}
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "replayed %d events into %s in %s (%.0f events/s)\n", n, target,
		elapsed.Round(time.Millisecond), float64(n)/max(elapsed.Seconds(), 1e-9))
	return nil
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

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("migrate",
		"keyline migrate [--config FILE]: bring the database and ClickHouse schemas up to date.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Opening applies the migrations: the same code path as `keyline run`.
	admin, cleanup, err := openAdmin(ctx, *config, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintln(stdout, "database schema up to date")
	if ch := admin.ClickHouse; ch != nil {
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
	} else {
		fmt.Fprintln(stdout, "clickhouse not configured")
	}
	return nil
}

func consumeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("consume",
		"keyline consume [--config FILE] [--group NAME] [--from beginning|latest]: print every event as a JSON line.", stderr)
	group := fs.String("group", "keyline-consume", "consumer group; a restarted consumer of the same group resumes where it stopped")
	consumer := fs.String("consumer", "", "consumer name within the group (default: cluster.nodeId or the host name)")
	from := fs.String("from", "beginning", "where a new group starts: beginning (oldest retained event) or latest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "beginning" && *from != "latest" {
		return fmt.Errorf("--from must be beginning or latest, got %q", *from)
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	if cfg.Redis == nil || cfg.Redis.URL == "" {
		// No Redis: the events table and the local analytics store are the
		// streams, read by position with the group's offsets in the database.
		db, cleanup, err := sqlstore.Open(ctx, cfg.Database)
		if err != nil {
			return err
		}
		defer cleanup()
		c, err := analytics.NewLocalConsumer(ctx, db, cfg.Analytics.Retention, *group)
		if err != nil {
			return err
		}
		return c.Run(ctx, *from == "beginning", stdout)
	}
	client, err := redisstream.NewClient(ctx, cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer client.Close()
	name := *consumer
	if name == "" {
		name = analytics.ConsumerName(cfg)
	}
	// Losses (entries trimmed before the group read them) are reported on
	// stderr: stdout carries only the JSON lines.
	warn := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return analytics.NewConsumer(client, cfg.Redis, *group, name, warn).Run(ctx, *from == "beginning", stdout)
}

func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "members" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "keyline cluster members [--config FILE] [--addr HOST:PORT]: list the cluster's members.")
			return flag.ErrHelp
		}
		return errors.New("usage: keyline cluster members [--config FILE] [--addr HOST:PORT]")
	}
	fs, config := newFlags("cluster members",
		"keyline cluster members [--config FILE] [--addr HOST:PORT]: list the members as a running node sees them.", stderr)
	addr := fs.String("addr", "", "RPC address of the node to ask (default: 127.0.0.1:cluster.rpcPort)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	if cfg.Cluster == nil {
		return errors.New("the config has no cluster section: this node is not clustered")
	}
	if *addr == "" {
		*addr = "127.0.0.1:" + cfg.Cluster.RPCPort
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client, err := cluster.NewClientFor(cfg.Cluster, 5*time.Second)
	if err != nil {
		return err
	}
	resp, err := client.Members(ctx, *addr)
	if err != nil {
		return fmt.Errorf("asking the node at %s: %w", *addr, err)
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
