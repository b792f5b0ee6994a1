package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/telemetry"
)

// Exit codes, the convention of Unix tools: 2 when the command line itself
// is wrong (nothing was attempted), 1 when the command ran and failed.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a command line that cannot be run as written: an unknown
// command or flag, a missing or malformed value, an extra argument.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// commandFailure marks an error returned by a command that ran, as opposed
// to one cobra raised while reading the command line.
type commandFailure struct{ error }

func (f commandFailure) Unwrap() error { return f.error }

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(ctx, stdout, stderr)
	root.SetArgs(args)
	if len(args) == 0 {
		// Bare `keyline` is not a request for help: it is a command line
		// that names no command.
		root.SetOut(stderr)
		_ = root.Help()
		return exitUsage
	}
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}
	var failed commandFailure
	var usage usageError
	switch {
	case errors.As(err, &failed):
		if !errors.Is(err, errLogged) {
			fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), cliMessage(failed.error))
		}
		return exitFailure
	default:
		// Everything else was refused before the command ran. A short hint,
		// not the whole usage: the mistake stays on screen.
		msg := err.Error()
		if errors.As(err, &usage) {
			msg = usage.Error()
		}
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", cmd.CommandPath(), strings.TrimRight(msg, "\n"), cmd.CommandPath())
		return exitUsage
	}
}

// newRootCommand defines the whole command line: every command's usage,
// help and completion come from these definitions.
func newRootCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "keyline",
		Short: "a self-hosted API-key and rate-limit server (Unkey v2 compatible)",
		Long: `keyline: a self-hosted API-key and rate-limit server, wire compatible with
Unkey's v2 HTTP API. Without --config every command works on the embedded
default: SQLite at ./data/keyline.db, an in-process event log, no Redis, no
ClickHouse (see configs/schema.json for the config file).

Exit codes: 0 success, 1 the command ran and failed, 2 the command line is
wrong (unknown command or flag, missing or malformed value, extra argument).`,
		Args:          rootArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Flags first-class on every command: --config means the same
		// thing everywhere.
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return failure(printVersion(stdout))
			}
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().String("config", "", "path to a JSON config file (see configs/schema.json); default: the embedded SQLite setup")
	root.Flags().BoolVar(&showVersion, "version", false, "print the version and exit (same as keyline version)")
	root.AddCommand(
		runCommand(ctx, stdout, stderr),
		bootstrapCommand(ctx, stdout, stderr),
		workspaceCommand(ctx, stdout, stderr),
		apisCommand(ctx, stdout, stderr),
		rootkeysCommand(ctx, stdout, stderr),
		portalsCommand(ctx, stdout, stderr),
		replayCommand(ctx, stdout, stderr),
		migrateCommand(ctx, stdout, stderr),
		consumeCommand(ctx, stdout, stderr),
		clusterCommand(ctx, stdout, stderr),
		healthCommand(ctx, stdout, stderr),
		versionCommand(stdout),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "print a shell completion script (bash, zsh, fish or powershell)"
		}
	}
	root.Long += "\n\nCommands (global flag: --config FILE):\n  " + strings.Join(synopses(root), "\n  ")
	return root
}

// synopses lists one line per command that does something, as its help
// shows it: the README's command-line section is checked against it.
func synopses(c *cobra.Command) []string {
	var out []string
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.Name() == "help" {
			continue
		}
		if sub.HasSubCommands() {
			out = append(out, synopses(sub)...)
			continue
		}
		out = append(out, strings.TrimSuffix(sub.UseLine(), " [flags]"))
	}
	return out
}

// rootArgs refuses an unknown command with cobra's "did you mean" hint.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q%s", args[0], suggestions(cmd, args[0]))
	}
	return nil
}

func suggestions(cmd *cobra.Command, typed string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	s := cmd.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(s, " or ") + "?)"
}

// noArgs is cobra.NoArgs with the message a leaf command deserves: the
// argument is not a command, it is simply not taken.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// group is a command that only holds subcommands: run on its own or with an
// unknown verb, it is a usage error instead of cobra's silent help.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := make([]string, 0, len(cmd.Commands()))
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			if len(args) == 0 {
				return usagef("missing subcommand (one of: %s)", strings.Join(names, ", "))
			}
			return usagef("unknown subcommand %q (one of: %s)%s", args[0], strings.Join(names, ", "), suggestions(cmd, args[0]))
		},
	}
	// A flag meant for a subcommand must not hide a misspelt verb:
	// `workspace pause --workspace x` is an unknown subcommand.
	c.FParseErrWhitelist.UnknownFlags = true
	c.AddCommand(subs...)
	return c
}

// failure marks err as the failure of a command that ran (exit 1); a
// usageError stays a usage error (exit 2).
func failure(err error) error {
	var usage usageError
	if err == nil || errors.As(err, &usage) {
		return err
	}
	return commandFailure{err}
}

// runE adapts a command's body to cobra: whatever it returns, but a usage
// error, is a failure of a command that ran.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error { return failure(fn(cmd, args)) }
}

// configPath is the --config flag every command inherits from the root.
func configPath(cmd *cobra.Command) string {
	v, _ := cmd.Flags().GetString("config")
	return v
}

// required checks that the named string flags are not blank: cobra's
// MarkFlagRequired accepts an empty --workspace.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if v, _ := cmd.Flags().GetString(n); strings.TrimSpace(v) == "" {
			return usagef("--%s is required", n)
		}
	}
	return nil
}

// flagSet reports whether the flag was given at all, even empty.
func flagSet(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
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
