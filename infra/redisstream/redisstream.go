// Package redisstream connects keyline to Redis streams through
// watermill-redisstream: the topic other nodes and downstream consumers read
// the event log from when `redis.url` is configured.
package redisstream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"
)

// EventsTopic is the Redis stream carrying every management event.
const EventsTopic = "keyline.events"

// AnalyticsTopic is the Redis stream carrying verification and rate-limit
// records (events.AnalyticsEvent), capped by analytics.retention.
const AnalyticsTopic = "keyline.analytics"

// NewLogger adapts logger for watermill, whose SQL and Redis adapters log
// routine work at info: the outbox's schema set-up alone is two multi-line
// dumps of SQL on every start. Their info becomes debug; warnings and errors
// keep their level.
func NewLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// NewClient opens a client for url and checks that Redis answers.
func NewClient(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing redis url: %w", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis unreachable: %w", err)
	}
	return client, nil
}

// NewPublisher builds a stream publisher with its own client: watermill
// closes the client together with the publisher, so it must not be shared.
func NewPublisher(ctx context.Context, url string, logger watermill.LoggerAdapter) (*redisstream.Publisher, error) {
	return NewCappedPublisher(ctx, url, nil, logger)
}

// NewCappedPublisher is NewPublisher with an approximate MAXLEN per topic:
// Redis trims the oldest entries so a stream nobody reads cannot grow
// without bound.
func NewCappedPublisher(ctx context.Context, url string, maxlens map[string]int64, logger watermill.LoggerAdapter) (*redisstream.Publisher, error) {
	client, err := NewClient(ctx, url)
	if err != nil {
		return nil, err
	}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: client, Maxlens: maxlens}, logger)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("creating redis stream publisher: %w", err)
	}
	return pub, nil
}

// NewSubscriber builds a consumer-group subscriber with its own client.
func NewSubscriber(ctx context.Context, url, group, consumer, oldestID string, logger watermill.LoggerAdapter) (*redisstream.Subscriber, error) {
	client, err := NewClient(ctx, url)
	if err != nil {
		return nil, err
	}
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client: client, ConsumerGroup: group, Consumer: consumer, OldestId: oldestID,
	}, logger)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("creating redis stream subscriber: %w", err)
	}
	return sub, nil
}
