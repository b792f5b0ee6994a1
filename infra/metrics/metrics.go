package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/ratelimit"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Server is the metrics listener. A nil *Server (no "metrics" in the
// config) serves nothing.
type Server struct {
	// HTTP is the API's request observer, nil when metrics are off.
	HTTP *HTTP

	reg *prometheus.Registry
	ln  net.Listener
	srv *http.Server
}

// Sources are what the collectors read at scrape time; any may be nil.
type Sources struct {
	Store    *sqlstore.Store
	Tailer   *sqlstore.Tailer
	Counters *handlers.Counters
	Pipeline *analytics.Pipeline
	Limiter  ratelimit.Limiter
	Cluster  *cluster.Cluster
}

// scrapeTimeout bounds the one database read a scrape makes (the log head
// for the projection lag).
const scrapeTimeout = 2 * time.Second

// New builds the registry and binds the listener, so that a port already
// in use stops the start instead of failing later. It returns nil when the
// config has no "metrics".
func New(cfg *configs.Config, logger *slog.Logger, store *sqlstore.Store, tailer *sqlstore.Tailer,
	counters *handlers.Counters, pipeline *analytics.Pipeline, limiter ratelimit.Limiter, cl *cluster.Cluster) (*Server, func(), error) {
	if cfg.Metrics == nil {
		return nil, func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{reg: reg, HTTP: newHTTP(reg)}
	src := Sources{Store: store, Tailer: tailer, Counters: counters, Pipeline: pipeline, Limiter: limiter, Cluster: cl}
	reg.MustRegister(&collector{src: src, logger: logger})
	if store != nil {
		observeAppends(reg, store)
	}
	addr := net.JoinHostPort(cfg.Metrics.Host, strconv.Itoa(cfg.Metrics.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	s.ln = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn), Timeout: 10 * time.Second,
	}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	return s, func() { _ = ln.Close() }, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	<-errc
	return nil
}

// observeAppends times every append of the event log.
func observeAppends(reg prometheus.Registerer, store *sqlstore.Store) {
	appends := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyline_eventlog_appends_total",
		Help: "Appends to the event log by this process, by result (ok, conflict: the stream moved, error).",
	}, []string{"result"})
	appended := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyline_eventlog_events_appended_total",
		Help: "Events committed to the event log by this process.",
	})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyline_eventlog_append_duration_seconds",
		Help:    "Duration of one append (the wait for its group, then the group's append lock, version check, insert, inline projections, outbox, commit).",
		Buckets: durationBuckets,
	})
	// Group commit: appends / commits is the mean group size.
	commits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keyline_eventlog_commits_total",
		Help: "Transactions of this process that committed appends to the event log (group commit: one holds every append waiting at that moment).",
	}, func() float64 { return float64(store.AppendStats().Commits) })
	reg.MustRegister(appends, appended, latency, commits)
	ok, conflict, failed := appends.WithLabelValues("ok"), appends.WithLabelValues("conflict"), appends.WithLabelValues("error")
	store.ObserveAppends(func(d time.Duration, n int, err error) {
		latency.Observe(d.Seconds())
		switch {
		case err == nil:
			ok.Inc()
			appended.Add(float64(n))
		case errors.Is(err, events.ErrVersionConflict):
			conflict.Inc()
		default:
			failed.Inc()
		}
	})
}
