package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a RequestObserver that lists what it saw.
type recorder struct {
	mu       sync.Mutex
	resolved []string
	seen     []string
}

func (r *recorder) Operation(name string) func(int, time.Duration) {
	r.resolved = append(r.resolved, name)
	return func(status int, _ time.Duration) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen = append(r.seen, name+" "+http.StatusText(status))
	}
}

// Every request is reported once under its route's operation, whatever
// answered it: the route, validation, the 405 handler, a panic (500), and
// "unknown" for every path no route serves.
func TestRequestsAreObservedByOperation(t *testing.T) {
	rec := &recorder{}
	h := NewRouter(&Routes{}, acceptAll{}, Options{MaxBodyBytes: 24, Observer: rec}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if slices.Contains(rec.resolved, "") || !slices.Contains(rec.resolved, "keys.verifyKey") || !slices.Contains(rec.resolved, "unknown") {
		t.Fatalf("resolved %v", rec.resolved)
	}
	for _, c := range []struct{ method, target, body string }{
		{http.MethodGet, "/v2/liveness", ""},
		{http.MethodGet, "/readyz", ""},
		{http.MethodPost, "/v2/apis.getApi", `{"apiId":"api_1234"}`},          // nil use cases: a panic
		{http.MethodPost, "/v2/apis.getApi", `{"apiId":"api_1234_too_long"}`}, // over MaxBodyBytes
		{http.MethodGet, "/v2/apis.getApi", ""},
		{http.MethodGet, "/v2/nope/secret_key_value", ""},
		{http.MethodGet, "/v2/liveness%00", ""},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer kl_root_x")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := []string{"liveness OK", "readyz OK", "apis.getApi Internal Server Error",
		"apis.getApi Request Entity Too Large", "apis.getApi Method Not Allowed", "unknown Not Found", "unknown Not Found"}
	if !slices.Equal(rec.seen, want) {
		t.Errorf("observed %q\nwant     %q", rec.seen, want)
	}
}
