package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

// healthConfig writes a config for a node on 127.0.0.1:port (every
// interface, as a container's config would); health reads only the address
// and tls from it.
func healthConfig(t *testing.T, port int, extra map[string]any) string {
	t.Helper()
	v := map[string]any{"httpPort": port,
		"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")}}
	for k, x := range extra {
		v[k] = x
	}
	return writeConfig(t, v)
}

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func TestHealthAgainstRunningNode(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	port := portOf(t, ts.URL)
	config := healthConfig(t, port, nil)

	out, errs, code := runProc(t, "health", "--config", config)
	want := "healthy: GET http://127.0.0.1:" + strconv.Itoa(port) + "/v2/liveness answered 200 in "
	if code != 0 || !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 || errs != "" {
		t.Fatalf("health on a live node: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	out, _, code = runProc(t, "health", "--url", ts.URL+"/v2/liveness")
	if code != 0 || !strings.HasPrefix(out, "healthy: GET "+ts.URL+"/v2/liveness answered 200") {
		t.Fatalf("health --url: exit %d, %q", code, out)
	}
}

func TestHealthFailsWithOneLineReason(t *testing.T) {
	free := testenv.FreePort(t)
	_, errs, code := runProc(t, "health", "--config", healthConfig(t, free, nil))
	want := "keyline health: unhealthy: GET http://127.0.0.1:" + strconv.Itoa(free) + "/v2/liveness: "
	if code != 1 || !strings.HasPrefix(errs, want) || !strings.Contains(errs, "connection refused") ||
		strings.Count(errs, "\n") != 1 {
		t.Fatalf("nothing listening: exit %d, stderr %q", code, errs)
	}

	// Something answers, but not 200: a node that is up yet broken, or a
	// redirect somewhere else, is not healthy.
	for status, wantText := range map[int]string{503: "answered 503 Service Unavailable", 302: "answered 302 Found"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status == 302 {
				http.Redirect(w, r, "/elsewhere", status)
				return
			}
			w.WriteHeader(status)
		}))
		_, errs, code = runProc(t, "health", "--config", healthConfig(t, portOf(t, srv.URL), nil))
		srv.Close()
		if code != 1 || !strings.HasPrefix(errs, "keyline health: unhealthy: GET http://127.0.0.1:") ||
			!strings.Contains(errs, wantText) || strings.Count(errs, "\n") != 1 {
			t.Fatalf("status %d: exit %d, stderr %q", status, code, errs)
		}
	}

	for args, want := range map[string]struct {
		code int
		err  string
	}{
		"--url ftp://x/":                    {2, "--url must be an absolute http(s) URL"},
		"--timeout 0s":                      {2, "--timeout must be positive"},
		"--config /nonexistent/config.json": {1, "/nonexistent/config.json"},
		"extra":                             {2, `unexpected argument "extra"`},
	} {
		_, errs, code := runProc(t, append([]string{"health"}, strings.Fields(args)...)...)
		if code != want.code || !strings.Contains(errs, want.err) {
			t.Fatalf("health %s: exit %d, stderr %q", args, code, errs)
		}
	}
}

// With tls configured, health speaks HTTPS to loopback and trusts exactly
// the configured certificate: a server presenting another one is unhealthy.
func TestHealthOverTLSPinsTheConfiguredCertificate(t *testing.T) {
	own := testenv.SelfSignedCert(t, "api")
	other := testenv.SelfSignedCert(t, "other")
	pair, err := tls.LoadX509KeyPair(own.CertFile, own.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/liveness" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"data":{"message":"we're cooking"}}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := portOf(t, srv.URL)

	config := healthConfig(t, port, map[string]any{"tls": map[string]any{"certFile": own.CertFile, "keyFile": own.KeyFile}})
	out, errs, code := runProc(t, "health", "--config", config)
	if code != 0 || !strings.HasPrefix(out, "healthy: GET https://127.0.0.1:"+strconv.Itoa(port)+"/v2/liveness answered 200") {
		t.Fatalf("pinned certificate: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}

	config = healthConfig(t, port, map[string]any{"tls": map[string]any{"certFile": other.CertFile, "keyFile": other.KeyFile}})
	_, errs, code = runProc(t, "health", "--config", config)
	if code != 1 || !strings.Contains(errs, "the server's certificate is not "+other.CertFile) {
		t.Fatalf("another certificate: exit %d, stderr %q", code, errs)
	}
}

func TestLivenessURL(t *testing.T) {
	for _, c := range []struct {
		host string
		tls  bool
		want string
	}{
		{"", false, "http://127.0.0.1:7070/v2/liveness"},
		{"0.0.0.0", false, "http://127.0.0.1:7070/v2/liveness"},
		{"::", false, "http://[::1]:7070/v2/liveness"},
		{"10.0.0.5", true, "https://10.0.0.5:7070/v2/liveness"},
		{"api.internal", false, "http://api.internal:7070/v2/liveness"},
	} {
		cfg := &configs.Config{HTTPHost: c.host, HTTPPort: 7070}
		if c.tls {
			cfg.TLS = &configs.TLS{CertFile: "c", KeyFile: "k"}
		}
		if got := livenessURL(cfg); got != c.want {
			t.Errorf("livenessURL(host %q, tls %v) = %s, want %s", c.host, c.tls, got, c.want)
		}
	}
}
