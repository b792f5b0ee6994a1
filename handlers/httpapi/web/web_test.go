package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func serve(t *testing.T, h http.Handler, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func routeMap() map[string]http.Handler {
	m := map[string]http.Handler{}
	for _, r := range Routes() {
		m[r.Path] = r.Handler
	}
	return m
}

// A page without its bundle would silently not be served.
func TestEveryPageHasItsBundle(t *testing.T) {
	routes := routeMap()
	for _, p := range Pages {
		if routes[p.Path] == nil {
			t.Errorf("page %s: dist/%s.js is missing (run make web)", p.Path, p.Entry)
		}
		if load().urls[p.Entry+".css"] == "" {
			t.Errorf("page %s: dist/%s.css is missing (run make web)", p.Path, p.Entry)
		}
	}
}

func TestPagesCarryTheSecurityHeadersAndNameVersionedAssets(t *testing.T) {
	routes := routeMap()
	rec := serve(t, routes["/console"], "/console", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
		"Content-Type":           "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	body := rec.Body.String()
	// No inline script or style: the CSP would block it.
	if strings.Contains(body, "<style") || regexp.MustCompile(`<script(?:\s+type="module")?>`).MatchString(body) || strings.Contains(body, "style=") {
		t.Errorf("page holds inline script or style:\n%s", body)
	}
	js := regexp.MustCompile(`src="(/ui/console\.[0-9a-f]{12}\.js)"`).FindStringSubmatch(body)
	css := regexp.MustCompile(`href="(/ui/console\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(body)
	if js == nil || css == nil {
		t.Fatalf("page does not reference versioned assets:\n%s", body)
	}
	for _, u := range []string{js[1], css[1]} {
		h := routes[u]
		if h == nil {
			t.Fatalf("%s is referenced but not served", u)
		}
		rec := serve(t, h, u, nil)
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d %v", u, rec.Code, rec.Header())
		}
		if rec.Header().Get("Content-Encoding") != "" || rec.Body.Len() == 0 {
			t.Errorf("%s without Accept-Encoding: encoding %q, %d bytes", u, rec.Header().Get("Content-Encoding"), rec.Body.Len())
		}
		plain := rec.Body.Bytes()
		gz := serve(t, h, u, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
		if gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s with gzip: %v", u, gz.Header())
		}
		zr, err := gzip.NewReader(gz.Body)
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plain) {
			t.Errorf("%s: gzip body differs from the plain one (%v)", u, err)
		}
	}
	if ct := serve(t, routes[js[1]], js[1], nil).Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script Content-Type %q", ct)
	}
	if ct := serve(t, routes[css[1]], css[1], nil).Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
}

// The URL names the content: another content is another URL, and a page
// whose bundle is missing is not served.
func TestAssetNamesFollowTheContent(t *testing.T) {
	a, err := newSite(fstest.MapFS{"dist/console.js": {Data: []byte("one")}, "dist/console.css": {Data: []byte("a{}")}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSite(fstest.MapFS{"dist/console.js": {Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	if a.urls["console.js"] == b.urls["console.js"] || !strings.HasPrefix(a.urls["console.js"], "/ui/console.") {
		t.Errorf("urls %q and %q", a.urls["console.js"], b.urls["console.js"])
	}
	c, err := newSite(fstest.MapFS{"dist/other.js": {Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.routes {
		if r.Path == "/console" {
			t.Errorf("/console served without its bundle")
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "br, gzip;q=0.5": true, "GZIP": true, "gzip;q=0": false, "deflate": false, "x-gzip": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v", header, got)
		}
	}
}
