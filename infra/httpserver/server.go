// Package httpserver owns the HTTP listener: binding the port, timeouts, and
// a graceful shutdown that drains in-flight requests. What is served is
// decided elsewhere (handlers/httpapi); this package only runs it.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/keyline/keyline/configs"
)

// Server is the API's HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// New binds the port right away, so a port conflict is a start-up error
// rather than a failure after the root key was printed.
func New(cfg *configs.Config, handler http.Handler) (*Server, func(), error) {
	port := cfg.HTTPPort
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, nil, fmt.Errorf("listening on :%d: %w", port, err)
	}
	s := &Server{ln: ln, srv: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}
	return s, func() { _ = ln.Close() }, nil
}

// Handler is what answers requests; benchmarks call it without a socket.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Addr is the bound address (useful when port 0 asked for any free port).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

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
