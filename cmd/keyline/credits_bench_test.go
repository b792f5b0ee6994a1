package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// BenchmarkSpendCredits measures the conditional UPDATE every verification
// of a limited key costs on the PostgreSQL primary: on one hot key (all
// spenders serialise on its row) and spread over many keys.
//
//	go test -run XXX -bench SpendCredits -benchtime 3s ./cmd/keyline/
func BenchmarkSpendCredits(b *testing.B) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: testenv.FreshPostgresDatabase(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	if err := (projections.KeyCredits{}).Setup(ctx, db.Primary); err != nil {
		b.Fatal(err)
	}
	const keys = 256
	for i := range keys {
		if _, err := db.Primary.ExecContext(ctx, "INSERT INTO key_credits (key_id, remaining, logged, epoch) VALUES (?, ?, ?, 1)",
			fmt.Sprintf("key_%d", i), int64(1)<<60, int64(1)<<60); err != nil {
			b.Fatal(err)
		}
	}
	r := projections.NewReader(db)
	for _, spread := range []int{1, keys} {
		b.Run(fmt.Sprintf("keys=%d", spread), func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("key_%d", n.Add(1)%int64(spread))
					if _, ok, err := r.SpendCredits(ctx, id, "ws_bench", 1); err != nil || !ok {
						b.Fatalf("spend: %v %v", ok, err)
					}
				}
			})
		})
	}
}

// BenchmarkVerifyKeyHTTP measures keys.verifyKey over HTTP on one in-process
// server (SQLite): an unlimited key (served from the cache alone) and a
// limited one (one conditional UPDATE each).
//
//	go test -run XXX -bench VerifyKeyHTTP -benchtime 5s ./cmd/keyline/
func BenchmarkVerifyKeyHTTP(b *testing.B) {
	cfg := configs.Default()
	cfg.Database.Primary = "sqlite:" + b.TempDir() + "/keyline.db"
	ts := startServerB(b, cfg)
	api := ts.createAPIB(b, "bench")
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"unlimited", map[string]any{"apiId": api}},
		{"limited", map[string]any{"apiId": api, "credits": map[string]any{"remaining": int64(1) << 50}}},
	} {
		key := ts.createKeyB(b, tc.body)
		body, _ := json.Marshal(map[string]any{"key": key})
		c := fastClient()
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if code, err := verifyCode(c, ts, body); err != nil || code != "VALID" {
						b.Fatalf("verify: %s %v", code, err)
					}
				}
			})
		})
	}
}

// BenchmarkVerifyKeyHandler runs the whole handler chain of keys.verifyKey
// (body, validation, auth, checks, analytics record, response) without a
// socket, so that its CPU and allocations per request show apart from the
// kernel's share, which is the same for every handler.
//
//	go test -run XXX -bench VerifyKeyHandler -benchmem ./cmd/keyline/
func BenchmarkVerifyKeyHandler(b *testing.B) {
	cfg := configs.Default()
	cfg.Database.Primary = "sqlite:" + b.TempDir() + "/keyline.db"
	benchVerifyKeyHandler(b, cfg)
}

// BenchmarkVerifyKeyHandlerMetrics is the same chain with the metrics
// listener on: the request counter and histogram are its only per-request
// cost, and must add no allocation.
func BenchmarkVerifyKeyHandlerMetrics(b *testing.B) {
	cfg := configs.Default()
	cfg.Database.Primary = "sqlite:" + b.TempDir() + "/keyline.db"
	cfg.Metrics = &configs.Metrics{Host: "127.0.0.1", Port: testenv.FreePort(b)}
	benchVerifyKeyHandler(b, cfg)
}

func benchVerifyKeyHandler(b *testing.B, cfg *configs.Config) {
	ts := startServerB(b, cfg)
	key := ts.createKeyB(b, map[string]any{"apiId": ts.createAPIB(b, "bench")})
	body, _ := json.Marshal(map[string]any{"key": key, "tags": []string{"path=/v1/items", "method=GET"}})
	serveLoop(b, ts, "/v2/keys.verifyKey", body, `"code":"VALID"`)
}

// serveLoop posts body to path through ts's handler chain, without a
// socket, once per benchmark iteration, and fails unless every answer is a
// 200 holding want. One request at a time: ns/op is then the chain's own
// time on one core, while the analytics records it emits are written on
// the other.
func serveLoop(b *testing.B, ts *testServer, path string, body []byte, want string) {
	h := ts.Server.HTTP.Handler()
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ts.RootKey)
		req.Header.Set("Content-Type", "application/json")
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || !bytes.Contains(w.body, []byte(want)) {
			b.Fatalf("%s: %d %s", path, w.status, w.body)
		}
	}
}

// discardWriter is a ResponseWriter that keeps the last body for a check.
type discardWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *discardWriter) reset() {
	clear(w.header)
	w.status, w.body = 0, w.body[:0]
}

func startServerB(b *testing.B, cfg *configs.Config) *testServer {
	b.Helper()
	cfg.HTTPPort = 0
	cfg.Bootstrap = &configs.Bootstrap{RootKey: "kl_root_bench_" + handlers.NewID("k")}
	ctx, cancel := context.WithCancel(context.Background())
	srv, cleanup, err := keyline.InitializeServer(ctx, cfg, discardLogger(), io.Discard)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	_, port, _ := net.SplitHostPort(srv.HTTP.Addr().String())
	ts := &testServer{URL: "http://127.0.0.1:" + port, RootKey: cfg.Bootstrap.RootKey, Server: srv}
	b.Cleanup(func() { cancel(); <-done; cleanup() })
	testenv.Eventually(b, 10*time.Second, func() (bool, string) {
		resp, err := http.Get(ts.URL + "/v2/liveness")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return ts
}

func (ts *testServer) postB(b *testing.B, op string, in any, out any) {
	b.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v2/"+op, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.RootKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct{ Data json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
		b.Fatalf("%s: %d %v", op, resp.StatusCode, err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		b.Fatal(err)
	}
}

func (ts *testServer) createAPIB(b *testing.B, name string) string {
	var out struct{ APIID string }
	ts.postB(b, "apis.createApi", map[string]any{"name": name}, &out)
	return out.APIID
}

func (ts *testServer) createKeyB(b *testing.B, body map[string]any) string {
	var out struct{ Key string }
	ts.postB(b, "keys.createKey", body, &out)
	return out.Key
}

// BenchmarkRatelimitHandler is BenchmarkVerifyKeyHandler for
// ratelimit.limit on the memory limiter, with the body klbench's ratios
// phase sends: the chain's CPU and allocations per decision, apart from
// the socket.
//
//	go test -run XXX -bench RatelimitHandler -benchmem ./cmd/keyline/
func BenchmarkRatelimitHandler(b *testing.B) {
	cfg := configs.Default()
	cfg.Database.Primary = "sqlite:" + b.TempDir() + "/keyline.db"
	ts := startServerB(b, cfg)
	body := []byte(`{"namespace":"bench","identifier":"hot","limit":1000000000,"duration":60000}`)
	serveLoop(b, ts, "/v2/ratelimit.limit", body, `"success":true`)
}
