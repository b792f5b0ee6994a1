package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

// metricFamilies are the families docs/OPERATIONS.md promises; their names
// are part of the contract.
var metricFamilies = []string{
	"keyline_http_requests_total",
	"keyline_http_request_duration_seconds",
	"keyline_key_verifications_total",
	"keyline_ratelimit_decisions_total",
	"keyline_analytics_records_dropped_total",
	"keyline_analytics_records_published_total",
	"keyline_analytics_records_emitted_total",
	"keyline_eventlog_appends_total",
	"keyline_eventlog_events_appended_total",
	"keyline_eventlog_append_duration_seconds",
	"keyline_eventlog_commits_total",
	"keyline_projection_lag_events",
	"keyline_cluster_members",
	"keyline_ratelimit_fallback",
	"keyline_ratelimit_fallbacks_total",
	"keyline_ratelimit_cluster_fail_opens_total",
	"keyline_ratelimit_cluster_fail_closes_total",
	"go_goroutines",
	"go_memstats_heap_alloc_bytes",
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
}

// scrape reads the metrics listener's /metrics.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sample returns the value of the series written exactly as series (name
// and labels in exposition order), or -1 when it is absent.
func sample(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// prometheusBinary finds Debian's prometheus. Outside CI a machine without
// it skips (ensure-services.sh installs it as root); in CI that is a
// failure, never a silent skip.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	msg := "the prometheus binary is not installed: run `bash infra/testenv/ensure-services.sh` as root " +
		"(it installs Debian's prometheus) or `apt-get install -y prometheus`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startPrometheus runs a throwaway Prometheus scraping target every second
// and returns its base URL; it is killed when the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"+
		"scrape_configs:\n  - job_name: keyline\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	return "http://" + addr
}

// promQuery runs an instant query and returns the values of the result
// vector (nil while Prometheus is not up or has no sample yet).
func promQuery(base, query string) ([]string, error) {
	resp, err := client.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query status %q", r.Status)
	}
	var out []string
	for _, s := range r.Data.Result {
		v, _ := s.Value[1].(string)
		out = append(out, v)
	}
	return out, nil
}

// The metrics listener serves every documented family, counts real
// verifications by outcome, and a real Prometheus server scrapes it.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Metrics = &configs.Metrics{Host: "127.0.0.1", Port: testenv.FreePort(t)}
	ts := startServer(t, cfg)
	metricsAddr := ts.Server.Metrics.Addr().String()
	prom := startPrometheus(t, metricsAddr)

	appendsBefore := sample(scrape(t, metricsAddr), `keyline_eventlog_appends_total{result="ok"}`)
	root := ts.RootKey
	api := ts.createAPI(t, root, "metrics")
	_, key := ts.createKey(t, root, map[string]any{"apiId": api})
	const valid, missing = 7, 3
	for range valid {
		var out struct{ Code string }
		ts.must(t, root, "keys.verifyKey", map[string]any{"key": key}, &out)
		if out.Code != "VALID" {
			t.Fatalf("verifyKey: %s", out.Code)
		}
	}
	for i := range missing {
		var out struct{ Code string }
		ts.must(t, root, "keys.verifyKey", map[string]any{"key": fmt.Sprintf("sk_nope_%d", i)}, &out)
		if out.Code != "NOT_FOUND" {
			t.Fatalf("verifyKey of an unknown key: %s", out.Code)
		}
	}
	// One refused by validation, one unknown path, one rate-limit check.
	if status, _ := ts.raw(t, "keys.verifyKey", "Bearer "+root, []byte(`{}`)); status != 400 {
		t.Fatalf("verifyKey without key: %d", status)
	}
	if status, _ := ts.get(t, "/v2/no.such/"+key); status != 404 {
		t.Fatalf("unknown path: %d", status)
	}
	var rl struct{ Success bool }
	ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "m", "identifier": "user_secret_42", "limit": 5, "duration": 60000}, &rl)

	body := scrape(t, metricsAddr)
	for _, f := range metricFamilies {
		if !strings.Contains(body, "\n# TYPE "+f+" ") {
			t.Errorf("/metrics has no family %s", f)
		}
	}
	for series, want := range map[string]float64{
		`keyline_key_verifications_total{outcome="VALID"}`:                        valid,
		`keyline_key_verifications_total{outcome="NOT_FOUND"}`:                    missing,
		`keyline_key_verifications_total{outcome="DISABLED"}`:                     0,
		`keyline_http_requests_total{operation="keys.verifyKey",status="200"}`:    valid + missing,
		`keyline_http_requests_total{operation="keys.verifyKey",status="400"}`:    1,
		`keyline_http_requests_total{operation="unknown",status="404"}`:           1,
		`keyline_http_requests_total{operation="ratelimit.limit",status="200"}`:   1,
		`keyline_http_request_duration_seconds_count{operation="keys.verifyKey"}`: valid + missing + 1,
		`keyline_ratelimit_decisions_total{outcome="passed"}`:                     1,
		`keyline_ratelimit_decisions_total{outcome="denied"}`:                     0,
		`keyline_cluster_members{state="alive"}`:                                  1,
		`keyline_ratelimit_fallback`:                                              0,
		`keyline_eventlog_appends_total{result="ok"}`:                             appendsBefore + 3, // api, key, namespace
	} {
		if got := sample(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Every VALID verification and the rate-limit decision produced a
	// record; none can be published or dropped without being emitted.
	emitted := sample(body, "keyline_analytics_records_emitted_total")
	if emitted < valid+1 || emitted < sample(body, "keyline_analytics_records_published_total")+sample(body, "keyline_analytics_records_dropped_total") {
		t.Errorf("keyline_analytics_records_emitted_total = %v: below the records produced or below published + dropped", emitted)
	}
	if lag := sample(body, "keyline_projection_lag_events"); lag < 0 || lag > 3 {
		t.Errorf("keyline_projection_lag_events = %v", lag)
	}
	// No label value holds a secret or an identifier.
	for _, secret := range []string{key, root, api, "user_secret_42", "ws_", "sk_nope"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}

	query := `keyline_key_verifications_total{outcome="VALID"}`
	var last string
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		vals, err := promQuery(prom, query)
		if err != nil {
			return false, fmt.Sprintf("query: %v", err)
		}
		last = strings.Join(vals, ",")
		return len(vals) == 1 && vals[0] == strconv.Itoa(valid), fmt.Sprintf("%s = [%s]", query, last)
	})
}

// tcpProxy forwards 127.0.0.1:<port> to target until closed; closing drops
// every connection, which to the server looks like the database vanishing.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func readyz(t *testing.T, ts *testServer) (int, map[string]string) {
	t.Helper()
	status, b := ts.get(t, "/readyz")
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("/readyz: %d, body is not JSON: %q", status, b)
	}
	return status, out
}

// /readyz is 200 while the primary database answers and 503 with a reason
// once it does not; liveness stays 200 throughout.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	dbURL := testenv.FreshPostgresDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	cfg := configs.Default()
	cfg.Database.Primary = u.String()
	cfg.Readiness.TimeoutMs = 500
	ts := startServer(t, cfg)

	if status, out := readyz(t, ts); status != 200 || out["status"] != "ready" {
		t.Fatalf("/readyz on a ready node: %d %v", status, out)
	}
	proxy.Close()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		status, out := readyz(t, ts)
		return status == 503 && out["status"] == "not ready" && out["reason"] == "primary database unreachable",
			fmt.Sprintf("/readyz = %d %v", status, out)
	})
	if status, _ := ts.get(t, "/v2/liveness"); status != 200 {
		t.Errorf("liveness with the database gone: %d", status)
	}
	status, b := ts.get(t, "/readyz")
	if bytes.Contains(b, []byte(proxy.Addr())) || bytes.Contains(b, []byte("127.0.0.1")) {
		t.Errorf("/readyz %d reveals an address: %s", status, b)
	}
}

// A node whose tailer is more than readiness.maxLagEvents behind the log
// head is not ready: here another server appends while this one's tailer
// polls only once an hour.
func TestReadyzRefusesALaggingNode(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Projections.PollIntervalMs = 3_600_000
	cfg.Readiness.MaxLagEvents = 1
	a := startServer(t, cfg)
	if status, out := readyz(t, a); status != 200 {
		t.Fatalf("/readyz before any lag: %d %v", status, out)
	}
	other := *cfg
	other.Bootstrap = &configs.Bootstrap{RootKey: cfg.Bootstrap.RootKey}
	b := startServer(t, &other)
	b.createAPI(t, b.RootKey, "one")
	b.createAPI(t, b.RootKey, "two")
	status, out := readyz(t, a)
	if status != 503 || !strings.HasPrefix(out["reason"], "projections are 2 events behind the log head") {
		t.Fatalf("/readyz of the lagging node: %d %v", status, out)
	}
	// The writing node's tailer takes its own commits after they were
	// answered, so its readiness may trail the answer by a moment.
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		status, out := readyz(t, b)
		return status == 200, fmt.Sprintf("/readyz of the writing node: %d %v", status, out)
	})
}

// A Redis outage shows: the fallback gauge is 1 and the fallback counter
// moves while decisions are local, /readyz names Redis, and both recover
// when Redis is back, without a restart.
func TestRedisOutageInMetricsAndReadiness(t *testing.T) {
	redisSrv := testenv.StartRedis(t)
	cfg := sqliteConfig(t)
	cfg.Redis = &configs.Redis{URL: redisSrv.URL, KeyPrefix: testenv.RedisPrefixAt(t, redisSrv.URL)}
	cfg.Metrics = &configs.Metrics{Host: "127.0.0.1", Port: testenv.FreePort(t)}
	cfg.Readiness.TimeoutMs = 300
	ts := startServer(t, cfg)
	addr := ts.Server.Metrics.Addr().String()
	limit := func() {
		t.Helper()
		var out struct{ Success bool }
		ts.must(t, ts.RootKey, "ratelimit.limit", map[string]any{"namespace": "outage", "identifier": "u", "limit": 1000, "duration": 60000}, &out)
		if !out.Success {
			t.Fatal("denied")
		}
	}
	limit()
	body := scrape(t, addr)
	if got := sample(body, "keyline_ratelimit_fallback"); got != 0 {
		t.Fatalf("fallback with Redis up = %v", got)
	}
	if status, out := readyz(t, ts); status != 200 {
		t.Fatalf("/readyz with Redis up: %d %v", status, out)
	}

	redisSrv.Stop()
	limit()
	body = scrape(t, addr)
	if got := sample(body, "keyline_ratelimit_fallback"); got != 1 {
		t.Errorf("fallback with Redis down = %v", got)
	}
	if got := sample(body, "keyline_ratelimit_fallbacks_total"); got < 1 {
		t.Errorf("fallbacks_total with Redis down = %v", got)
	}
	if status, out := readyz(t, ts); status != 503 || out["reason"] != "redis unreachable" {
		t.Errorf("/readyz with Redis down: %d %v", status, out)
	}

	redisSrv.Start()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		limit()
		got := sample(scrape(t, addr), "keyline_ratelimit_fallback")
		return got == 0, fmt.Sprintf("fallback after Redis came back = %v", got)
	})
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		status, out := readyz(t, ts)
		return status == 200, fmt.Sprintf("/readyz after Redis came back: %d %v", status, out)
	})
}
