//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Browser tests drive Debian's /usr/bin/chromium, headless, through npm's
// playwright-core (pinned in testdata/browser/package.json and its lock
// file). infra/testenv/ensure-services.sh installs both; browserDir installs
// the npm package itself when a plain `go test` runs first.

const chromiumPath = "/usr/bin/chromium"

// browserRunTimeout bounds one node script (browser start included) on a
// loaded two-core machine; the run is killed, browser and all, after it.
const browserRunTimeout = 4 * time.Minute

// browserLeftoverAge: a run directory older than this belongs to a run that
// was killed (no run lives that long), and is swept.
const browserLeftoverAge = 30 * time.Minute

// browserDir returns the directory holding playwright-core (an npm ci of
// testdata/browser's lock file, cached in the user cache dir under the
// lock file's hash, the same place ensure-services.sh installs it).
func browserDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is required for the browser tests (make services installs Debian's chromium as root): %v", chromiumPath, err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the browser tests: %v", tool, err)
		}
	}
	lock, err := os.ReadFile("testdata/browser/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("testdata/browser/package.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "keyline", "browser-"+hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Parallel tests (and ensure-services.sh) share the install: one at a
	// time, and a finished install is marked only once it succeeded.
	unlock := flockFile(t, filepath.Join(dir, ".lock"))
	defer unlock()
	stamp := filepath.Join(dir, "node_modules", ".keyline-installed")
	if _, err := os.Stat(stamp); err != nil {
		for name, body := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		install := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci (playwright-core): %v\n%s", err, out)
		}
		if err := os.WriteFile(stamp, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func flockFile(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = f.Close() }
}

// runBrowser runs testdata/browser/SCRIPT with node against serverURL in a
// run directory of its own (the scripts next to playwright-core, and a
// fresh Chromium profile), with env added. It fails the test when the
// script fails or runs past browserRunTimeout, and kills the whole process
// group (node, Chromium and its helpers) whatever happens. It returns the
// script's output.
func runBrowser(t *testing.T, script, serverURL string, env ...string) string {
	t.Helper()
	dir := browserDir(t)
	runs := filepath.Join(dir, "runs")
	sweepBrowserRuns(t, runs, browserLeftoverAge)
	if err := os.MkdirAll(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	run, err := os.MkdirTemp(runs, strconv.FormatInt(time.Now().Unix(), 10)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(run) })
	scripts, _ := filepath.Glob("testdata/browser/*.mjs")
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profile := filepath.Join(run, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserRunTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", filepath.Join(run, script))
	cmd.Dir = run
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), append([]string{"KEYLINE_URL=" + serverURL, "KEYLINE_PROFILE=" + profile}, env...)...)
	// Its own process group, so that one kill reaches Chromium too; and
	// node dies with the test binary (Chromium then with the sweep).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers that outlived node
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: killed after %v (browser and all):\n%s", script, browserRunTimeout, out.String())
	}
	if err != nil {
		t.Fatalf("%s failed after %v: %v\n%s", script, time.Since(start).Round(time.Millisecond), err, out.String())
	}
	return out.String()
}

// sweepBrowserRuns removes run directories older than age, after killing
// any process still using one (a Chromium whose test was killed: its
// command line names its profile directory).
func sweepBrowserRuns(t *testing.T, runs string, age time.Duration) {
	t.Helper()
	entries, err := os.ReadDir(runs)
	if err != nil {
		return
	}
	for _, e := range entries {
		stamp, _, ok := strings.Cut(e.Name(), "-")
		sec, err := strconv.ParseInt(stamp, 10, 64)
		if !ok || err != nil || time.Since(time.Unix(sec, 0)) < age {
			continue
		}
		dir := filepath.Join(runs, e.Name())
		for _, pid := range processesMentioning(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("sweeping %s: %v", dir, err)
		}
	}
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A killed run's leftovers (its directory and a Chromium still running on
// its profile) are swept by the next run.
func TestBrowserRunLeftoversAreSwept(t *testing.T) {
	runs := t.TempDir()
	old := filepath.Join(runs, fmt.Sprintf("%d-abc", time.Now().Add(-2*browserLeftoverAge).Unix()))
	fresh := filepath.Join(runs, fmt.Sprintf("%d-def", time.Now().Unix()))
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "profile"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A stand-in for an orphaned browser: a process naming the old profile.
	orphan := exec.Command("bash", "-c", "exec -a \"sleep --user-data-dir=$0\" sleep 300", filepath.Join(old, "profile"))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- orphan.Wait() }()
	t.Cleanup(func() { _ = orphan.Process.Kill() })
	deadline := time.Now().Add(10 * time.Second)
	for len(processesMentioning(old)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in process never showed up in /proc")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sweepBrowserRuns(t, runs, browserLeftoverAge)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the process using the old profile was not killed")
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old run directory still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh run directory was swept: %v", err)
	}
}

// browserResult runs script and decodes the JSON of its "RESULT " line
// into out; the script must also print done.
func browserResult(t *testing.T, script, serverURL, done string, out any, env ...string) {
	t.Helper()
	if dir := os.Getenv("KEYLINE_SCREENSHOTS"); dir != "" {
		env = append(env, "KEYLINE_SCREENSHOTS="+dir)
	}
	text := runBrowser(t, script, serverURL, env...)
	if !strings.Contains(text, done) {
		t.Fatalf("%s did not finish:\n%s", script, text)
	}
	for _, line := range strings.Split(text, "\n") {
		if js, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(js), out); err != nil {
				t.Fatalf("decoding %s: %v", js, err)
			}
			return
		}
	}
	t.Fatalf("%s printed no result:\n%s", script, text)
}

// The console's Portals section (testdata/browser/console-portals.mjs):
// the portal `keyline portals create` made is listed with its API by name,
// one is created through the form and the first deleted through the page,
// and `keyline portals list` sees both changes. The server has no
// ClickHouse, so the Audit log section says it needs one.
func TestConsolePortalsOperation(t *testing.T) {
	t.Parallel()
	f := newPortalFixture(t)
	var res struct {
		Listed           []string `json:"listed"`
		APIsShown        string   `json:"apisShown"`
		ListedID         string   `json:"listedId"`
		CreatedID        string   `json:"createdId"`
		CreatedReturnURL string   `json:"createdReturnUrl"`
		AfterDelete      []string `json:"afterDelete"`
		AuditUnavailable string   `json:"auditUnavailable"`
	}
	browserResult(t, "console-portals.mjs", f.ts.URL, "console portals: ok", &res,
		"KEYLINE_ROOT_KEY="+f.ts.RootKey, "KEYLINE_PORTAL_NAME=Acme keys", "KEYLINE_API_NAME=payments")
	if !slices.Equal(res.Listed, []string{"Acme keys"}) || res.APIsShown != "payments" || res.ListedID != f.portalID {
		t.Errorf("listed %v showing %q as %s, want [Acme keys] showing payments as %s", res.Listed, res.APIsShown, res.ListedID, f.portalID)
	}
	if !strings.HasPrefix(res.CreatedID, "pc_") || res.CreatedReturnURL != "https://example.com/account" {
		t.Errorf("created %s with return URL %q", res.CreatedID, res.CreatedReturnURL)
	}
	if !slices.Equal(res.AfterDelete, []string{"Browser portal"}) {
		t.Errorf("after the delete the page lists %v, want [Browser portal]", res.AfterDelete)
	}
	if !strings.Contains(res.AuditUnavailable, "clickhouse.url") {
		t.Errorf("audit section without ClickHouse says %q", res.AuditUnavailable)
	}

	// The page's changes are the store's: the operator sees them too.
	out, errs, exit := runProc(t, "portals", "list", "--config", f.config, "--workspace", "default")
	if exit != 0 {
		t.Fatalf("portals list: exit %d %s", exit, errs)
	}
	got := map[string]listedPortal{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var p listedPortal
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("portals list line %q: %v", line, err)
		}
		got[p.PortalID] = p
	}
	if p := got[f.portalID]; !p.Deleted {
		t.Errorf("the CLI's portal after the page deleted it: %+v", p)
	}
	if p := got[res.CreatedID]; p.Deleted || p.Name != "Browser portal" || !slices.Equal(p.APIIDs, []string{f.apiID}) {
		t.Errorf("the page's portal: %+v", p)
	}
}

// The console's Audit log section with ClickHouse
// (testdata/browser/console-audit.mjs): a key created through the API
// appears, by the root key that created it, once the audit projector has
// written it (the page refreshes until then, within a deadline). The
// listing pages newest first with the position as cursor.
func TestConsoleAuditLogOperation(t *testing.T) {
	t.Parallel()
	cfg := analyticsConfig(t, true)
	ts := startServer(t, cfg)
	root := ts.RootKey
	api := ts.createAPI(t, root, "payments")
	var key createdKey
	ts.must(t, root, "keys.createKey", map[string]any{"apiId": api, "name": "audited"}, &key)
	var self rootKeySelf
	ts.must(t, root, "keyline.whoami", map[string]any{}, &self)

	var res struct {
		Actor     string   `json:"actor"`
		Event     string   `json:"event"`
		Resources string   `json:"resources"`
		Events    []string `json:"events"`
		Positions []int64  `json:"positions"`
	}
	browserResult(t, "console-audit.mjs", ts.URL, "console audit: ok", &res, "KEYLINE_ROOT_KEY="+root, "KEYLINE_KEY_ID="+key.KeyID)
	if res.Actor != self.RootKeyID || res.Event != "key.created" {
		t.Errorf("the key's entry: actor %q event %q, want %s key.created", res.Actor, res.Event, self.RootKeyID)
	}
	for _, want := range []string{"key " + key.KeyID, "api " + api} {
		if !strings.Contains(res.Resources, want) {
			t.Errorf("resources %q do not name %s", res.Resources, want)
		}
	}
	if !slices.IsSortedFunc(res.Positions, func(a, b int64) int { return int(b - a) }) || !slices.Contains(res.Events, "api.created") {
		t.Errorf("page not newest first or without the API: %v %v", res.Positions, res.Events)
	}

	// Page by page, one entry each: the cursor continues below the last.
	type entry struct {
		Position int64 `json:"position"`
	}
	status, first := ts.call(t, root, "keyline.listAuditLogs", map[string]any{"limit": 1})
	var one []entry
	if status != 200 || json.Unmarshal(first.Data, &one) != nil || len(one) != 1 || first.Pagination == nil || !first.Pagination.HasMore {
		t.Fatalf("first page: %d %s %+v", status, first.Data, first.Pagination)
	}
	status, second := ts.call(t, root, "keyline.listAuditLogs", map[string]any{"limit": 1, "cursor": first.Pagination.Cursor})
	var two []entry
	if status != 200 || json.Unmarshal(second.Data, &two) != nil || len(two) != 1 || two[0].Position >= one[0].Position ||
		strconv.FormatInt(two[0].Position, 10) != first.Pagination.Cursor {
		t.Fatalf("second page after %d: %d %s", one[0].Position, status, second.Data)
	}
	status, r := ts.call(t, root, "keyline.listAuditLogs", map[string]any{"cursor": "not-a-position"})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
}
