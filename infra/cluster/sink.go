package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
)

// streamMaxLen caps keyline.cluster (approximately, MAXLEN ~): membership
// records are telemetry, and a heartbeat per node every few seconds would
// otherwise grow the stream without bound.
const streamMaxLen = 100_000

// sink sends membership records to the Redis stream. Publishing happens on
// its own goroutine behind a bounded queue: a slow or absent Redis drops
// records, it never stalls membership handling.
type sink interface {
	// publish queues ev and reports whether a stream is configured (false
	// means the caller should gossip the record instead).
	publish(ev Event) bool
	run(ctx context.Context)
	close()
}

func newSink(cfg *configs.Config, c *Cluster, logger *slog.Logger) sink {
	url := ""
	if r := cfg.Cluster.Discovery.Redis; r != nil {
		url = r.URL
	} else if cfg.Redis != nil {
		url = cfg.Redis.URL
	}
	if url == "" {
		return noSink{}
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		logger.Error("cluster records will be gossiped: bad redis url", "error", err)
		return noSink{}
	}
	opts.MaxRetries = 1
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	client := redis.NewClient(opts)
	// redis.streamPrefix names every stream of the deployment, this one
	// too: two deployments sharing a Redis must not read each other's
	// membership records.
	stream := cfg.Redis.Stream(StreamTopic)
	// The publisher owns (and closes) its client.
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: client,
		Maxlens: map[string]int64{stream: streamMaxLen}}, watermill.NewSlogLogger(logger))
	if err != nil {
		_ = client.Close()
		logger.Error("cluster records will be gossiped: no stream publisher", "error", err)
		return noSink{}
	}
	return &streamSink{pub: pub, stream: stream, queue: make(chan Event, 1024), logger: logger}
}

type noSink struct{}

func (noSink) publish(Event) bool  { return false }
func (noSink) run(context.Context) {}
func (noSink) close()              {}

type streamSink struct {
	pub    message.Publisher
	stream string // StreamTopic behind redis.streamPrefix
	queue  chan Event
	logger *slog.Logger
	warned atomic.Int64 // unix nanoseconds of the last warning
}

func (s *streamSink) publish(ev Event) bool {
	select {
	case s.queue <- ev:
	default:
		s.warn("cluster record queue full; record dropped", nil)
	}
	return true
}

func (s *streamSink) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.drain()
			return
		case ev := <-s.queue:
			s.send(ev)
		}
	}
}

// drain sends what is queued when the node stops, so its last records
// (e.g. the failure of a peer seen just before) are not lost.
func (s *streamSink) drain() {
	for {
		select {
		case ev := <-s.queue:
			s.send(ev)
		default:
			return
		}
	}
}

func (s *streamSink) send(ev Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	msg := message.NewMessage(ev.ID, b)
	msg.Metadata.Set("name", ev.Name)
	msg.Metadata.Set("v", "1")
	msg.Metadata.Set("nodeId", ev.NodeID)
	if err := s.pub.Publish(s.stream, msg); err != nil {
		s.warn("publishing a cluster record failed", err)
	}
}

// warn logs at most every 10 s: a Redis outage would otherwise log every
// heartbeat of every node.
func (s *streamSink) warn(msg string, err error) {
	last := s.warned.Load()
	now := time.Now().UnixNano()
	if now-last < int64(10*time.Second) || !s.warned.CompareAndSwap(last, now) {
		return
	}
	s.logger.Warn(msg, "error", err)
}

func (s *streamSink) close() { _ = s.pub.Close() }
