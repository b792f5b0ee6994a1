package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// binary is the keyline executable built once for the tests that run it as
// a user would: as a separate process, killed and restarted.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyline-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keyline")
	// Static and -trimpath like the container image's binary (`make image`):
	// the tests run what ships, and the image test's build then finds every
	// package compiled and only links.
	build := exec.Command("go", "build", "-trimpath", "-o", binary,
		"-ldflags", "-X main.version="+testVersion+" -X main.revision="+testRevision, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building keyline:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Stamped into the test binary the way the Makefile stamps a release.
const (
	testVersion  = "v0.0.0-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

// proc is a running keyline process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
	done   chan struct{}
	err    error
}

func (p *proc) output() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String(), p.stderr.String()
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Dir = t.TempDir()
	outPipe, _ := p.cmd.StdoutPipe()
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	copyTo := func(sb *strings.Builder, r interface{ Read([]byte) (int, error) }) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			sb.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}
	wg.Add(2)
	go copyTo(&p.stdout, outPipe)
	go copyTo(&p.stderr, errPipe)
	go func() {
		wg.Wait()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			out, errs := p.output()
			t.Logf("keyline %v\nstdout:\n%s\nstderr:\n%s", args, out, errs)
		}
	})
	return p
}

// runProc runs a keyline command to completion.
func runProc(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func writeConfig(t *testing.T, v any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyline.json")
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var rootKeyLine = regexp.MustCompile(`(?m)^\s+(kl_root_[1-9A-HJ-NP-Za-km-z]+)\s*$`)

// startFromConfig runs `keyline run --config` on a fresh SQLite file and
// returns the process, the server and the printed first root key.
func startFromConfig(t *testing.T, config string, port int) (*proc, *testServer) {
	t.Helper()
	p := startProc(t, "run", "--config", config)
	ts := &testServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		select {
		case <-p.done:
			_, errs := p.output()
			t.Fatalf("keyline exited early: %v\n%s", p.err, errs)
		default:
		}
		status, _ := ts.get(t, "/v2/liveness")
		return status == 200, fmt.Sprintf("liveness answered %d", status)
	})
	out, _ := p.output()
	if m := rootKeyLine.FindStringSubmatch(out); m != nil {
		ts.RootKey = m[1]
	}
	return p, ts
}

func TestCLIHelp(t *testing.T) {
	out, _, code := runProc(t, "--help")
	if code != 0 || !containsAll(out, "keyline run", "keyline bootstrap", "keyline replay", "keyline migrate", "keyline consume") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	for _, sub := range []string{"run", "bootstrap", "replay", "migrate", "consume", "health"} {
		help, _, code := runProc(t, sub, "--help")
		if code != 0 || !containsAll(help, "keyline "+sub, "--config") {
			t.Fatalf("%s --help: exit %d\n%s", sub, code, help)
		}
	}
	_, errs, code := runProc(t, "frobnicate")
	if code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d\n%s", code, errs)
	}
	_, errs, code = runProc(t, "bootstrap")
	if code != 2 || !strings.Contains(errs, "--workspace is required") {
		t.Fatalf("bootstrap without workspace: exit %d\n%s", code, errs)
	}
	for _, sub := range [][]string{{"workspace", "disable"}, {"workspace", "enable"}, {"apis", "allow-ips"}} {
		help, _, code := runProc(t, append(sub, "--help")...)
		if code != 0 || !containsAll(help, "keyline "+sub[0], sub[1], "--config") {
			t.Fatalf("%v --help: exit %d\n%s", sub, code, help)
		}
	}
}

func TestVersionPrintsStampedBuild(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, errs, code := runProc(t, arg)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", arg, code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || lines[0] != "keyline "+testVersion || lines[1] != "revision: "+testRevision ||
			!strings.HasPrefix(lines[3], "go: go1.") {
			t.Fatalf("%s printed:\n%s", arg, out)
		}
	}
	if _, errs, code := runProc(t, "version", "extra"); code != 2 || !strings.Contains(errs, `unexpected argument "extra"`) {
		t.Fatalf("version extra: exit %d\n%s", code, errs)
	}
}

// The README's command-line section and `keyline --help` list the same
// commands with the same synopsis.
func TestCLIUsageMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Command line\n\n```\n")
	block, _, _ := strings.Cut(section, "```")
	documented := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if !strings.HasPrefix(line, "keyline --help") {
			documented[line] = true
		}
	}
	served := map[string]bool{}
	for _, line := range synopses(newRootCommand(context.Background(), io.Discard, io.Discard)) {
		served[line] = true
	}
	if len(served) < 8 || !maps.Equal(documented, served) {
		t.Fatalf("README's command line:\n%v\nkeyline --help:\n%v", slices.Sorted(maps.Keys(documented)), slices.Sorted(maps.Keys(served)))
	}
}

func TestInvalidConfigReportsEveryProblem(t *testing.T) {
	config := writeConfig(t, map[string]any{
		"httpPort": "seventy", "bogus": true,
		"database": map[string]any{"primary": "sqlite:x.db", "extra": 1},
	})
	_, errs, code := runProc(t, "run", "--config", config)
	if code != 1 || !containsAll(errs, "/httpPort", "/bogus", "/database/extra") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	raw := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(raw, []byte(`{"database":{"primary":"${KEYLINE_TEST_SURELY_UNDEFINED}"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code = runProc(t, "run", "--config", raw)
	if code != 1 || !strings.Contains(errs, "KEYLINE_TEST_SURELY_UNDEFINED") {
		t.Fatalf("undefined env: exit %d, stderr:\n%s", code, errs)
	}
}

// 1000 creates answered 200, then kill -9: after a restart every one of them
// is readable, and `keyline replay` rebuilds identical read models.
func TestKillNineLosesNoAnsweredWrite(t *testing.T) {
	port := testenv.FreePort(t)
	dbPath := filepath.Join(t.TempDir(), "keyline.db")
	config := writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": "sqlite:" + dbPath}})
	p, ts := startFromConfig(t, config, port)
	if ts.RootKey == "" {
		out, _ := p.output()
		t.Fatalf("first start printed no root key:\n%s", out)
	}

	const total, workers = 1000, 8
	ids := make([]string, total)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				ids[i] = ts.createAPI(t, ts.RootKey, fmt.Sprintf("durable-%04d", i))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done

	p2, ts2 := startFromConfig(t, config, port)
	if ts2.RootKey != "" {
		t.Fatal("a restart printed a new first root key")
	}
	ts2.RootKey = ts.RootKey
	for i, id := range ids {
		var got struct{ Name string }
		ts2.must(t, ts2.RootKey, "apis.getApi", map[string]string{"apiId": id}, &got)
		if got.Name != fmt.Sprintf("durable-%04d", i) {
			t.Fatalf("api %s: name %q", id, got.Name)
		}
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p2.done
	if p2.err != nil {
		t.Fatalf("SIGTERM: keyline exited with %v", p2.err)
	}

	before := dumpSQLite(t, dbPath)
	if len(before["apis"]) != total {
		t.Fatalf("read model holds %d apis, want %d", len(before["apis"]), total)
	}
	out, errs, code := runProc(t, "replay", "--config", config)
	if code != 0 || !regexp.MustCompile(`^replayed \d+ events into all projections in \S+ \(\d+ events/s\)\n$`).MatchString(out) {
		t.Fatalf("replay: exit %d\nstdout: %q\nstderr: %s", code, out, errs)
	}
	assertSameRows(t, before, dumpSQLite(t, dbPath))

	out, _, code = runProc(t, "replay", "--config", config, "--projection", "apis")
	if code != 0 || !strings.Contains(out, "into projection apis") {
		t.Fatalf("replay --projection apis: exit %d %q", code, out)
	}
	_, errs, code = runProc(t, "replay", "--config", config, "--projection", "nope")
	if code != 1 || !strings.Contains(errs, `unknown projection "nope"`) {
		t.Fatalf("replay of an unknown projection: exit %d %s", code, errs)
	}
}

func dumpSQLite(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: "sqlite:" + path})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	return dumpReadModels(t, db.Primary)
}

// `keyline bootstrap` against the store of a running server: the server
// accepts the new root key on the very next request.
func TestBootstrapWhileServerRuns(t *testing.T) {
	port := testenv.FreePort(t)
	config := writeConfig(t, map[string]any{"httpPort": port,
		"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")}})
	_, ts := startFromConfig(t, config, port)

	out, errs, code := runProc(t, "bootstrap", "--config", config, "--workspace", "team-b", "--permissions", "api.*.create_api")
	if code != 0 {
		t.Fatalf("bootstrap: exit %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var minted struct{ WorkspaceID, RootKeyID, RootKey string }
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &minted) != nil ||
		!strings.HasPrefix(minted.WorkspaceID, "ws_") || !strings.HasPrefix(minted.RootKeyID, "key_") || !strings.HasPrefix(minted.RootKey, "kl_root_") {
		t.Fatalf("bootstrap printed %q", out)
	}
	id := ts.createAPI(t, minted.RootKey, "made by team b")
	status, r := ts.call(t, minted.RootKey, "apis.getApi", map[string]string{"apiId": id})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// Bootstrapping the same workspace again reuses it.
	out, _, code = runProc(t, "bootstrap", "--config", config, "--workspace", "team-b")
	var again struct{ WorkspaceID, RootKey string }
	if code != 0 || json.Unmarshal([]byte(out), &again) != nil || again.WorkspaceID != minted.WorkspaceID {
		t.Fatalf("second bootstrap: exit %d %q", code, out)
	}
	ts.must(t, again.RootKey, "apis.getApi", map[string]string{"apiId": id}, nil)
}

// Exit codes follow the Unix convention: 2 when the command line is wrong
// (and nothing ran), 1 when the command ran and failed; the message is a
// one-line hint, not the whole usage.
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.json")
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{nil, 2, []string{"Commands (global flag: --config FILE):"}},
		{[]string{"rnu"}, 2, []string{`keyline: unknown command "rnu" (did you mean run?)`, "Run 'keyline --help' for usage."}},
		{[]string{"run", "--confg", missing}, 2, []string{"keyline run: unknown flag: --confg", "Run 'keyline run --help' for usage."}},
		{[]string{"run", "now"}, 2, []string{`keyline run: unexpected argument "now"`}},
		{[]string{"consume", "--from", "yesterday"}, 2, []string{`keyline consume: --from must be beginning or latest, got "yesterday"`}},
		{[]string{"health", "--timeout", "soon"}, 2, []string{`keyline health: invalid argument "soon" for "--timeout" flag`}},
		{[]string{"cluster"}, 2, []string{"keyline cluster: missing subcommand (one of: members)"}},
		{[]string{"run", "--config", missing}, 1, []string{"keyline run: ", missing}},
		{[]string{"cluster", "members", "--config", missing}, 1, []string{"keyline cluster members: ", missing}},
	} {
		out, errs, code := runProc(t, tc.args...)
		if code != tc.code || !containsAll(errs, tc.want...) || (code != 0 && out != "") {
			t.Errorf("keyline %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
		if code == 2 && len(tc.args) > 0 && strings.Count(errs, "\n") > 2 {
			t.Errorf("keyline %q: a usage error printed %d lines, want a short hint:\n%s", tc.args, strings.Count(errs, "\n"), errs)
		}
	}
}

// `keyline completion SHELL` prints a script that the shell accepts and
// that completes from the same command definitions as the help.
func TestCLICompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		out, errs, code := runProc(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "keyline") || len(out) < 1000 {
			t.Fatalf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errs)
		}
		if shell != "bash" {
			continue
		}
		if _, err := exec.LookPath("bash"); err != nil {
			t.Fatal("bash is not installed: the completion script cannot be checked")
		}
		script := filepath.Join(t.TempDir(), "keyline.bash")
		if err := os.WriteFile(script, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
			t.Fatalf("bash -n on the completion script: %v\n%s", err, b)
		}
	}
	// The hidden __complete command is what the scripts call: it must offer
	// the subcommands and a flag's fixed values.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "rootkeys", ""}, []string{"create", "list", "revoke"}},
		{[]string{"__complete", "consume", "--from", ""}, []string{"beginning", "latest"}},
		{[]string{"__complete", "r"}, []string{"replay", "rootkeys", "run"}},
	} {
		out, errs, code := runProc(t, tc.args...)
		if code != 0 || !containsAll(out, tc.want...) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errs, tc.want)
		}
	}
}
