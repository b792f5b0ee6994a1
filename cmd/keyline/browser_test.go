//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
