package httpserver

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

func TestTimeoutsFromConfigAndDefaults(t *testing.T) {
	srv := NewHTTPServer(configs.Server{ReadTimeoutMs: 1500, MaxHeaderBytes: 4096}, http.NotFoundHandler())
	if srv.ReadTimeout != 1500*time.Millisecond || srv.MaxHeaderBytes != 4096 {
		t.Errorf("configured: read %s, header bytes %d", srv.ReadTimeout, srv.MaxHeaderBytes)
	}
	// A zero (a config built in Go) is the default, never net/http's "no limit".
	if srv.ReadHeaderTimeout != 5*time.Second || srv.WriteTimeout != time.Minute || srv.IdleTimeout != 2*time.Minute {
		t.Errorf("defaults: header %s, write %s, idle %s", srv.ReadHeaderTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

func TestListenHostAndTLSFiles(t *testing.T) {
	cfg := &configs.Config{HTTPHost: "127.0.0.1", HTTPPort: testenv.FreePort(t)}
	s, cleanup, err := New(cfg, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if ip := s.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() || s.TLS() {
		t.Fatalf("bound %s (tls %v), want plain loopback", s.Addr(), s.TLS())
	}

	cfg = &configs.Config{HTTPHost: "127.0.0.1", HTTPPort: testenv.FreePort(t),
		TLS: &configs.TLS{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}}
	if _, _, err := New(cfg, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "tls: loading") {
		t.Fatalf("missing certificate: %v, want a start-up error", err)
	}
	a, b := testenv.SelfSignedCert(t, "a"), testenv.SelfSignedCert(t, "b")
	cfg.TLS = &configs.TLS{CertFile: a.CertFile, KeyFile: b.KeyFile}
	if _, _, err := New(cfg, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "tls: loading") {
		t.Fatalf("certificate and key that do not match: %v, want a start-up error", err)
	}
	cfg.TLS = &configs.TLS{CertFile: a.CertFile, KeyFile: a.KeyFile}
	s, cleanup, err = New(cfg, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if !s.TLS() {
		t.Fatal("TLS() = false with tls configured")
	}
}
