// Package httpserver owns the HTTP listener: binding the port, timeouts,
// TLS, and a graceful shutdown that drains in-flight requests. What is
// served is decided elsewhere (handlers/httpapi); this package only runs it.
package httpserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/keyline/keyline/configs"
)

// Server is the API's HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// New binds the port right away, so a port conflict or an unreadable
// certificate is a start-up error rather than a failure after the root key
// was printed.
func New(cfg *configs.Config, handler http.Handler) (*Server, func(), error) {
	var tlsCfg *tls.Config
	if cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: loading %s and %s: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
		}
		tlsCfg = ServerTLS(cert)
	}
	addr := net.JoinHostPort(cfg.HTTPHost, strconv.Itoa(cfg.HTTPPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &Server{ln: ln, tls: tlsCfg != nil, srv: NewHTTPServer(cfg.Server, handler)}
	return s, func() { _ = ln.Close() }, nil
}

// NewHTTPServer applies the configured limits to an http.Server. ReadTimeout
// is what closes a slow or abandoned upload: it bounds the whole request,
// body included, so a client trickling a large body cannot hold its
// connection (and the bytes read so far) for longer. Zero fields (a config
// built in Go) take the defaults: zero would mean "no limit" to net/http.
func NewHTTPServer(s configs.Server, handler http.Handler) *http.Server {
	ms := func(v, def int) time.Duration { return time.Duration(cmp.Or(v, def)) * time.Millisecond }
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ms(s.ReadHeaderTimeoutMs, configs.DefaultReadHeaderTimeoutMs),
		ReadTimeout:       ms(s.ReadTimeoutMs, configs.DefaultReadTimeoutMs),
		WriteTimeout:      ms(s.WriteTimeoutMs, configs.DefaultWriteTimeoutMs),
		IdleTimeout:       ms(s.IdleTimeoutMs, configs.DefaultIdleTimeoutMs),
		MaxHeaderBytes:    cmp.Or(s.MaxHeaderBytes, configs.DefaultMaxHeaderBytes),
	}
}

// ServerTLS is the TLS setting of keyline's listeners. It offers HTTP/1.1
// only: the read and write timeouts above are what bound slow clients, and
// they are per connection there.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Handler is what answers requests; benchmarks call it without a socket.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Addr is the bound address (useful when port 0 asked for any free port).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether the server answers HTTPS.
func (s *Server) TLS() bool { return s.tls }

// Serve answers requests until ctx ends, then stops accepting and waits up
// to 15 s for in-flight requests.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("draining http server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// PinnedClientTLS is what a client of this node's own API trusts, such as
// `keyline health` on the same machine: exactly the leaf certificate of
// tls.certFile, byte for byte. The usual name check cannot work there (the
// probe dials 127.0.0.1 while the certificate names the public host), and
// the exact pin makes it unnecessary. Only the certificate is read, not the
// key.
func PinnedClientTLS(cfg *configs.TLS) (*tls.Config, error) {
	raw, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	var own []byte
	for block, rest := pem.Decode(raw); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "CERTIFICATE" {
			own = block.Bytes
			break
		}
	}
	if own == nil {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", cfg.CertFile)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard verification is replaced, not skipped: VerifyConnection
		// accepts only the configured certificate.
		InsecureSkipVerify: true, //nolint:gosec // pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
				return fmt.Errorf("tls: the server's certificate is not %s", cfg.CertFile)
			}
			if time.Now().After(cs.PeerCertificates[0].NotAfter) {
				return fmt.Errorf("tls: the certificate in %s has expired", cfg.CertFile)
			}
			return nil
		},
	}, nil
}
