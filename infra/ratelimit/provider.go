package ratelimit

import (
	"context"
	"fmt"
	"github.com/keyline/keyline/events"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/telemetry"
)

// Limiter is what keyline's use cases call (handlers.Ratelimiter has the
// same method set; wire binds one to the other).
type Limiter interface {
	Decide(ctx context.Context, now time.Time, checks []events.RatelimitCheck) ([]events.RatelimitDecision, error)
}

// JanitorInterval is how often idle counters are dropped from memory.
const JanitorInterval = 10 * time.Second

// New picks the limiter from the configuration: Redis when redis.url is set
// (with an in-memory fallback), memory otherwise. Redis being down at start
// does not stop keyline: the limiter decides locally until it answers.
func New(cfg *configs.Config, logger *slog.Logger) (Limiter, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	mem := NewMemory()
	go mem.RunJanitor(ctx, JanitorInterval)
	if cfg.Redis == nil || cfg.Redis.URL == "" {
		return mem, cancel, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("parsing redis url: %w", err)
	}
	// Fail fast instead of retrying: a decision that waits for Redis holds
	// up the request, and the fallback answers at once.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout = 500 * time.Millisecond
	opts.WriteTimeout = 500 * time.Millisecond
	opts.PoolSize = max(opts.PoolSize, 64)
	client := redis.NewClient(opts)
	telemetry.InstrumentRedis(cfg, client)
	limiter := NewRedis(client, mem, logger, RedisOptions{Prefix: cfg.Redis.KeyPrefix})
	return limiter, func() {
		cancel()
		_ = client.Close()
	}, nil
}
