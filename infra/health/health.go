// Package health decides whether a node can serve (GET /readyz).
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Readiness checks, within a bound each, that the primary database
// answers, that this node's tailer is within readiness.maxLagEvents of the
// log head, and that Redis answers when it is configured. It implements
// httpapi.Readiness.
type Readiness struct {
	db      *sqlstore.DB
	tailer  *sqlstore.Tailer
	redis   *redis.Client // nil without redis.url
	maxLag  int64
	timeout time.Duration
	logger  *slog.Logger
}

// New builds the checks. With redis.url it opens a small client of its
// own: the limiter's pool is sized for decisions and fails fast on
// purpose, which says nothing about whether Redis answers a ping.
func New(cfg *configs.Config, db *sqlstore.DB, tailer *sqlstore.Tailer, logger *slog.Logger) (*Readiness, func(), error) {
	r := &Readiness{db: db, tailer: tailer, maxLag: cfg.Readiness.MaxLagEvents,
		timeout: time.Duration(cfg.Readiness.TimeoutMs) * time.Millisecond, logger: logger}
	if r.maxLag <= 0 {
		r.maxLag = configs.DefaultReadinessMaxLagEvents
	}
	if r.timeout <= 0 {
		r.timeout = configs.DefaultReadinessTimeoutMs * time.Millisecond
	}
	if cfg.Redis == nil || cfg.Redis.URL == "" {
		return r, func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing redis url: %w", err)
	}
	opts.PoolSize, opts.MaxRetries = 2, -1
	r.redis = redis.NewClient(opts)
	return r, func() { _ = r.redis.Close() }, nil
}

// Ready returns nil when the node can serve, else an error whose text is
// the reason shown to callers; the underlying error (which may name hosts)
// is only logged.
func (r *Readiness) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.db.Primary.PingContext(ctx); err != nil {
		r.logger.Warn("readiness: primary database unreachable", "error", err)
		return errors.New("primary database unreachable")
	}
	lag, err := r.tailer.Lag(ctx)
	if err != nil {
		r.logger.Warn("readiness: reading the log head failed", "error", err)
		return errors.New("primary database unreachable")
	}
	if lag > r.maxLag {
		return fmt.Errorf("projections are %d events behind the log head (readiness.maxLagEvents is %d)", lag, r.maxLag)
	}
	if r.redis != nil {
		if err := r.redis.Ping(ctx).Err(); err != nil {
			r.logger.Warn("readiness: redis unreachable", "error", err)
			return errors.New("redis unreachable")
		}
	}
	return nil
}
