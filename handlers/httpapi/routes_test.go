package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keyline/keyline/handlers/httpapi/openapi"
	"github.com/keyline/keyline/handlers/httpapi/web"
)

// The served routes are exactly the OpenAPI document's operations plus
// keylineOnlyRoutes, which must stay out of the document (/readyz is not
// Unkey's), and each keyline-only route answers.
func TestServedRoutesMatchTheSpec(t *testing.T) {
	h, served := newRouter(&Routes{}, acceptAll{}, Options{MaxBodyBytes: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var spec []string
	path := ""
	for _, line := range strings.Split(string(openapi.Spec()), "\n") {
		if p, ok := strings.CutSuffix(line, ":"); ok && strings.HasPrefix(p, "  /") && !strings.HasPrefix(p, "   ") {
			path = strings.TrimSpace(p)
			continue
		}
		if m, ok := strings.CutSuffix(line, ":"); ok && path != "" && strings.HasPrefix(m, "    ") && !strings.HasPrefix(m, "     ") {
			switch m = strings.TrimSpace(m); m {
			case "get", "post", "put", "delete", "patch":
				spec = append(spec, strings.ToUpper(m)+" "+path)
			}
		}
	}
	if len(spec) < 30 {
		t.Fatalf("found only %d operations in the spec", len(spec))
	}
	want := append(slices.Concat(spec, keylineOperations), keylineOnlyRoutes...)
	for _, r := range web.Routes() {
		want = append(want, http.MethodGet+" "+r.Path)
	}
	slices.Sort(want)
	got := slices.Clone(served)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("served routes differ from the spec plus %v:\nserved %v\nwant   %v", keylineOnlyRoutes, got, want)
	}
	for _, r := range keylineOperations {
		if slices.Contains(spec, r) {
			t.Errorf("%s is keyline's own but appears in openapi.yaml", r)
		}
	}
	for _, r := range keylineOnlyRoutes {
		if slices.Contains(spec, r) {
			t.Errorf("%s is keyline's own but appears in openapi.yaml", r)
		}
		method, target, _ := strings.Cut(r, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", r, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if body := rec.Body.String(); body != "{\"status\":\"ready\"}\n" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("/readyz without checks: %q %q", body, rec.Header().Get("Content-Type"))
	}
}
