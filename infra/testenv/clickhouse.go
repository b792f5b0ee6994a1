package testenv

import (
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

// ThrowawayClickHouse is a clickhouse-server of the test's own, on free
// loopback ports, that the test may stop and start again to simulate an
// outage. Its data directory survives a restart, as a real server's does.
type ThrowawayClickHouse struct {
	Port int
	URL  string
	dir  string
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// StartClickHouse starts a clickhouse-server on a copy of the packaged
// configuration (as ensure-services.sh does for the shared test server) and
// stops it when the test ends.
func StartClickHouse(t testing.TB) *ThrowawayClickHouse {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		t.Fatalf("clickhouse-server is not installed: run `make test`, which installs it")
	}
	src, err := os.ReadFile("/etc/clickhouse-server/config.xml")
	if err != nil {
		t.Fatalf("testenv: reading the packaged ClickHouse config: %v", err)
	}
	users, err := os.ReadFile("/etc/clickhouse-server/users.xml")
	if err != nil {
		t.Fatalf("testenv: reading the packaged ClickHouse users: %v", err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	cfg := strings.NewReplacer(
		"/var/lib/clickhouse/", dir+"/data/",
		"/var/log/clickhouse-server/", dir+"/log/",
		"<tcp_port>9000</tcp_port>", "<tcp_port>"+strconv.Itoa(port)+"</tcp_port>",
		"<http_port>8123</http_port>", "<http_port>"+strconv.Itoa(FreePort(t))+"</http_port>",
		"<interserver_http_port>9009</interserver_http_port>", "<interserver_http_port>"+strconv.Itoa(FreePort(t))+"</interserver_http_port>",
	).Replace(string(src))
	for _, f := range []struct {
		name string
		body []byte
	}{{"config.xml", []byte(cfg)}, {"users.xml", users}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"data", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &ThrowawayClickHouse{Port: port, URL: fmt.Sprintf("clickhouse://127.0.0.1:%d/default", port), dir: dir, t: t}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start (re)starts the server and waits until it answers a query.
func (c *ThrowawayClickHouse) Start() {
	c.t.Helper()
	c.cmd = exec.Command("clickhouse-server", "--config-file="+filepath.Join(c.dir, "config.xml"))
	c.cmd.Dir = c.dir
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("starting clickhouse-server: %v", err)
	}
	done := make(chan struct{})
	c.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(c.cmd)
	Eventually(c.t, 60*time.Second, func() (bool, string) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(c.dir, "log", "clickhouse-server.err.log"))
			c.t.Fatalf("clickhouse-server exited: %s", tail(string(log), 2000))
		default:
		}
		if err := chAdminExec(c.URL, "SELECT 1"); err != nil {
			return false, "clickhouse-server not answering yet: " + err.Error()
		}
		return true, ""
	})
}

// Stop shuts the server down the way an operator would (SIGTERM: it
// finishes the inserts in flight, then exits), killing it only if it has not
// exited after 30 s. Stopping twice is harmless.
func (c *ThrowawayClickHouse) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Kill ends the server with SIGKILL, as a crash or the OOM killer would:
// an insert in flight stops wherever it is, possibly after the raw table's
// part and before its materialized views' parts. Start brings it back.
// Killing a stopped server is harmless.
func (c *ThrowawayClickHouse) Kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	c.cmd = nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
