package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The hand-rolled client must read real net/http answers exactly, over one
// kept-alive connection, and fail loudly on anything a phase must not count.
func TestConnReadsNetHTTPAnswers(t *testing.T) {
	var gotBodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		gotBodies = append(gotBodies, string(b))
		if r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no auth", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/big" {
			_, _ = w.Write([]byte(strings.Repeat("x", 10000) + `"valid":true`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"valid":true}}`))
	}))
	defer srv.Close()
	c, err := dial(target{Name: "t", URL: srv.URL + "/v", Auth: "Bearer k", Want: `"valid":true`})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i := range 3 {
		if err := c.do([]byte(`{"n":` + string(rune('0'+i)) + `}`)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if strings.Join(gotBodies, ",") != `{"n":0},{"n":1},{"n":2}` {
		t.Fatalf("server got bodies %q", gotBodies)
	}
	big, _ := dial(target{Name: "big", URL: srv.URL + "/big", Auth: "Bearer k", Want: `"valid":true`})
	defer big.close()
	if err := big.do([]byte(`{}`)); err != nil {
		t.Fatalf("a 10 kB answer: %v", err)
	}
	noAuth, _ := dial(target{Name: "noauth", URL: srv.URL + "/v"})
	defer noAuth.close()
	if err := noAuth.do([]byte(`{}`)); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("a 401 must fail the phase, got %v", err)
	}
	wrong, _ := dial(target{Name: "wrong", URL: srv.URL + "/v", Auth: "Bearer k", Want: `"valid":false`})
	defer wrong.close()
	if err := wrong.do([]byte(`{}`)); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("an answer without Want must fail the phase, got %v", err)
	}
}

// generate sends what the spec schedules: an open loop of rate × duration
// requests, every one answered, with distinct bodies cycling.
func TestGenerateOpenLoopSendsTheScheduledRequests(t *testing.T) {
	seen := map[string]int{}
	done := make(chan string, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		done <- string(b)
		_, _ = w.Write([]byte(`ok`))
	}))
	defer srv.Close()
	r, err := generate(loadSpec{Target: target{Name: "t", URL: srv.URL, Body: `id_{i}`, Distinct: 3},
		Conns: 4, Duration: 500 * time.Millisecond, Rate: 400})
	if err != nil {
		t.Fatal(err)
	}
	close(done)
	for b := range done {
		seen[b]++
	}
	if r.Requests != 200 || seen["id_0"]+seen["id_1"]+seen["id_2"] != 200 {
		t.Fatalf("answered %d, server saw %v; want 200 requests over id_0..id_2", r.Requests, seen)
	}
	if seen["id_0"] != 67 || seen["id_1"] != 67 || seen["id_2"] != 66 {
		t.Fatalf("bodies did not cycle: %v", seen)
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.SendP99 <= 0 {
		t.Fatalf("implausible latencies: %+v", r)
	}
}
