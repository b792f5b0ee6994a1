package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/infra/testenv"
)

// docker runs the docker client with a deadline and returns its combined
// output, trimmed.
func docker(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// requireDocker skips only where no daemon can be had: not root (only root
// may start one) and none running. As root, or in CI, ensure-services.sh
// (run by `make test`) starts one, so a missing daemon is a failure there.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err == nil {
		if _, err := docker(15*time.Second, "version", "--format", "{{.Server.Version}}"); err == nil {
			return
		}
	}
	if os.Getuid() == 0 || os.Getenv("CI") == "true" {
		t.Fatal("no Docker daemon answers: run `bash infra/testenv/ensure-services.sh` (make test does), which installs docker.io and starts dockerd as root")
	}
	t.Skip("no Docker daemon answers and only root may start one: start dockerd (or run `bash infra/testenv/ensure-services.sh` as root) to run the container image test")
}

// `make image` builds the image, and the image, run with a
// mounted config on PostgreSQL and Redis, serves the API and reports itself
// healthy; `docker stop` ends it cleanly.
func TestContainerImage(t *testing.T) {
	requireDocker(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed to build the image the way users do (apt-get install make)")
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	image := "keyline:test-" + id

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "make", "-C", "../..", "image", "IMAGE="+image)
	started := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image took %s", time.Since(started).Round(time.Millisecond))
	t.Cleanup(func() {
		if out, err := docker(time.Minute, "image", "rm", "--force", image); err != nil {
			t.Errorf("removing %s: %v\n%s", image, err, out)
		}
	})

	// What the Dockerfile promises, as the daemon recorded it.
	raw, err := docker(30*time.Second, "image", "inspect", "--format", "{{json .Config}}", image)
	if err != nil {
		t.Fatalf("image inspect: %v\n%s", err, raw)
	}
	var cfg struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Healthcheck  struct{ Test []string }
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("image config %s: %v", raw, err)
	}
	ports := make([]string, 0, len(cfg.ExposedPorts))
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if cfg.User != "65532:65532" || !slices.Equal(cfg.Entrypoint, []string{"/keyline"}) ||
		!slices.Equal(cfg.Cmd, []string{"run", "--config", "/etc/keyline/config.json"}) ||
		!slices.Equal(ports, []string{"2112/tcp", "7070/tcp", "7071/tcp", "7072/tcp", "7072/udp"}) ||
		len(cfg.Volumes) != 1 || cfg.Volumes["/var/lib/keyline"] != struct{}{} ||
		!slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/keyline", "health", "--config", "/etc/keyline/config.json"}) {
		t.Fatalf("image config: %+v", cfg)
	}

	port := testenv.FreePort(t)
	prefix := testenv.RedisPrefix(t)
	root := "kl_root_test_" + id + "_container"
	config := filepath.Join(t.TempDir(), "config.json")
	body, _ := json.Marshal(map[string]any{
		"httpPort": port,
		"database": map[string]any{"primary": testenv.FreshPostgresDatabase(t)},
		"redis": map[string]any{"url": testenv.RedisURL(t), "keyPrefix": prefix + "rl:",
			"streamPrefix": prefix},
		"bootstrap": map[string]any{"rootKey": root},
	})
	// 0644: the container's user is 65532, not the test's.
	if err := os.WriteFile(config, body, 0o644); err != nil {
		t.Fatal(err)
	}

	name := "keyline-test-" + id
	// --network host: the config's 127.0.0.1 PostgreSQL and Redis are the
	// test's; the tmpfs is the data volume, writable by the image's user.
	if out, err := docker(time.Minute, "run", "--detach", "--name", name, "--network", "host",
		"--tmpfs", "/var/lib/keyline:uid=65532,gid=65532",
		"--volume", config+":/etc/keyline/config.json:ro", image); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := docker(30*time.Second, "logs", name)
			t.Logf("container logs:\n%s", logs)
		}
		if out, err := docker(time.Minute, "rm", "--force", "--volumes", name); err != nil {
			t.Errorf("removing container %s: %v\n%s", name, err, out)
		}
	})

	ts := &testServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), RootKey: root}
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		if state, _ := docker(15*time.Second, "inspect", "--format", "{{.State.Status}}", name); state != "running" {
			logs, _ := docker(15*time.Second, "logs", name)
			t.Fatalf("container is %q, not running:\n%s", state, logs)
		}
		status, _ := ts.get(t, "/v2/liveness")
		return status == 200, fmt.Sprintf("liveness answered %d", status)
	})

	api := ts.createAPI(t, root, "container")
	var created struct {
		Key string `json:"key"`
	}
	ts.must(t, root, "keys.createKey", map[string]any{"apiId": api, "prefix": "ctr"}, &created)
	if !strings.HasPrefix(created.Key, "ctr_") {
		t.Fatalf("createKey returned %q", created.Key)
	}
	var verified struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	ts.must(t, root, "keys.verifyKey", map[string]any{"key": created.Key}, &verified)
	if !verified.Valid || verified.Code != "VALID" {
		t.Fatalf("verifyKey = %+v, want VALID", verified)
	}
	ts.must(t, root, "keys.verifyKey", map[string]any{"key": created.Key + "x"}, &verified)
	if verified.Valid || verified.Code != "NOT_FOUND" {
		t.Fatalf("verifyKey of an unknown key = %+v, want NOT_FOUND", verified)
	}
	for i, want := range []struct {
		success   bool
		remaining int
	}{{true, 1}, {true, 0}, {false, 0}} {
		var limited struct {
			Success   bool `json:"success"`
			Remaining int  `json:"remaining"`
			Limit     int  `json:"limit"`
		}
		ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "container", "identifier": "user_1",
			"limit": 2, "duration": 60000}, &limited)
		if limited.Success != want.success || limited.Remaining != want.remaining || limited.Limit != 2 {
			t.Fatalf("ratelimit.limit #%d = %+v, want success %v remaining %d", i+1, limited, want.success, want.remaining)
		}
	}

	// The image's own HEALTHCHECK (first run after its 10 s interval).
	testenv.Eventually(t, 45*time.Second, func() (bool, string) {
		health, err := docker(15*time.Second, "inspect", "--format", "{{.State.Health.Status}}", name)
		return err == nil && health == "healthy", fmt.Sprintf("health %q (%v)", health, err)
	})
	out, err := docker(30*time.Second, "exec", name, "/keyline", "health", "--config", "/etc/keyline/config.json")
	if want := "healthy: GET http://127.0.0.1:" + strconv.Itoa(port) + "/v2/liveness answered 200"; err != nil || !strings.HasPrefix(out, want) {
		t.Fatalf("docker exec keyline health: %v\n%s", err, out)
	}
	if v, err := docker(15*time.Second, "exec", name, "/keyline", "version"); err != nil || !strings.HasPrefix(v, "keyline ") {
		t.Fatalf("docker exec keyline version: %v\n%s", err, v)
	}

	// keyline is PID 1: SIGTERM must drain and exit 0, not wait for SIGKILL.
	stopped := time.Now()
	if out, err := docker(time.Minute, "stop", "--time", "20", name); err != nil {
		t.Fatalf("docker stop: %v\n%s", err, out)
	}
	code, err := docker(15*time.Second, "inspect", "--format", "{{.State.ExitCode}}", name)
	if err != nil || code != "0" || time.Since(stopped) > 15*time.Second {
		t.Fatalf("after docker stop: exit code %q (%v) after %s, want 0 well before the 20 s SIGKILL",
			code, err, time.Since(stopped).Round(time.Millisecond))
	}
}
