package analytics

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	mathrand "math/rand/v2"
	"sync/atomic"
	"time"

	wredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/redisstream"
)

// Publisher writes a batch of records to the durable analytics stream.
// retry is set when the batch is sent again after a failed attempt, which
// may have stored some or all of it anyway (a timeout after the server
// applied it): the publisher then marks what it writes, so readers that
// must not count a record twice know to check (RetryField).
type Publisher interface {
	Publish(ctx context.Context, evs []events.AnalyticsEvent, retry bool) error
}

// Sink is the node-local end of the pipeline: reporting.Sink.
type Sink struct {
	queue chan events.AnalyticsEvent
	// full tells Run that a whole batch is queued. Run never waits on
	// queue itself: a receiver parked there is woken by every Emit, a
	// goroutine switch and often a thread wake-up on the other core per
	// verification, which was the largest source of scheduling delay on
	// the hot path (go tool trace -pprof=sched).
	full    chan struct{}
	pub     Publisher
	batch   int
	flush   time.Duration
	logger  *slog.Logger
	dropped atomic.Int64
	// lastDropLog rate-limits the drop warning to one per second: under
	// overload a log line per dropped record would make things worse.
	lastDropLog atomic.Int64
	published   atomic.Int64
	// emitted counts every record handed to Emit: with dropped and
	// published it tells what is still buffered, and that nothing vanished.
	emitted atomic.Int64
}

// NewSink builds the sink; pub nil means there is nowhere to send records
// (no Redis): every record is then dropped and counted.
func NewSink(cfg configs.Analytics, pub Publisher, logger *slog.Logger) *Sink {
	return &Sink{queue: make(chan events.AnalyticsEvent, max(cfg.BufferSize, 1)), full: make(chan struct{}, 1), pub: pub,
		batch: max(cfg.BatchSize, 1), flush: time.Duration(max(cfg.FlushIntervalMs, 1)) * time.Millisecond,
		logger: logger}
}

// NewID returns a fresh analytics record ID: 128 random bits, which is
// what deduplication needs. They come from math/rand/v2's generator
// (ChaCha8 under a random seed per thread): crypto/rand's system call per
// record was a measurable share of a verification.
func NewID() string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], mathrand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], mathrand.Uint64())
	var out [4 + 32]byte
	copy(out[:], "aev_")
	hex.Encode(out[4:], raw[:])
	return string(out[:])
}

// Emit queues ev without blocking; when the buffer is full, or there is no
// stream, the record is dropped, counted and (at most once a second) logged.
func (s *Sink) Emit(ev events.AnalyticsEvent) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	s.emitted.Add(1)
	if s.pub != nil {
		select {
		case s.queue <- ev:
			if len(s.queue) >= s.batch {
				select {
				case s.full <- struct{}{}:
				default:
				}
			}
			return
		default:
		}
	}
	n := s.dropped.Add(1)
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last >= int64(time.Second) && s.lastDropLog.CompareAndSwap(last, now) {
		reason := "buffer full (analytics.bufferSize)"
		if s.pub == nil {
			reason = "no analytics stream (set redis.url)"
		}
		s.logger.Warn("analytics records dropped", "reason", reason, "droppedTotal", n)
	}
}

// Dropped is how many records were dropped since start.
func (s *Sink) Dropped() int64 { return s.dropped.Load() }

// Emitted is how many records were handed to Emit since start.
func (s *Sink) Emitted() int64 { return s.emitted.Load() }

// Published is how many records reached the stream since start.
func (s *Sink) Published() int64 { return s.published.Load() }

// Run moves queued records to the stream in batches of up to batchSize,
// at least every flush interval, until ctx ends; then it sends what is
// still queued (for up to 5 s) so a clean shutdown loses nothing.
func (s *Sink) Run(ctx context.Context) error {
	if s.pub == nil {
		<-ctx.Done()
		return nil
	}
	batch := make([]events.AnalyticsEvent, 0, s.batch)
	ticker := time.NewTicker(s.flush)
	defer ticker.Stop()
	for {
		rest := false
		select {
		case <-s.full:
		case <-ticker.C:
			rest = true
		case <-ctx.Done():
			return s.drain(batch[:0], false)
		}
		// Whole batches while there are any; on the tick also what is left,
		// so a record waits at most about one flush interval. Run is the
		// queue's only reader, so what len reports stays there to take.
		for n := len(s.queue); n >= s.batch || (rest && n > 0); n = len(s.queue) {
			batch = s.take(batch[:0])
			if err := s.send(ctx, batch); err != nil {
				// At least one attempt failed, and may have gone through.
				return s.drain(batch, true)
			}
			if len(batch) < s.batch {
				break // that was the rest
			}
		}
	}
}

// take appends up to a batch of queued records to batch without waiting.
func (s *Sink) take(batch []events.AnalyticsEvent) []events.AnalyticsEvent {
	for len(batch) < s.batch {
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// send retries a failing batch with back-off: meanwhile the queue fills and,
// at its bound, Emit drops; memory stays bounded either way. Every attempt
// after the first is published as a retry.
func (s *Sink) send(ctx context.Context, batch []events.AnalyticsEvent) error {
	backoff := 50 * time.Millisecond
	for retry := false; ; retry = true {
		err := s.pub.Publish(ctx, batch, retry)
		if err == nil {
			s.published.Add(int64(len(batch)))
			return nil
		}
		s.logger.Warn("publishing analytics records failed; retrying", "records", len(batch), "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// drain sends batch (retry: a failed attempt sent it before) and what is
// still queued.
func (s *Sink) drain(batch []events.AnalyticsEvent, retry bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
			if len(batch) < s.batch {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return nil
		}
		if err := s.pub.Publish(ctx, batch, retry); err != nil {
			s.dropped.Add(int64(len(batch) + len(s.queue)))
			s.logger.Warn("analytics records lost at shutdown", "records", len(batch)+len(s.queue), "error", err)
			return nil
		}
		s.published.Add(int64(len(batch)))
		batch = batch[:0]
		retry = false
	}
}

// RedisPublisher publishes records to redisstream.AnalyticsTopic in the
// format watermill-redisstream reads (its default marshaller; the message
// UUID is the record ID), so watermill subscribers and `keyline consume`
// read them unchanged.
//
// It does not go through watermill's Publisher, which sends one XADD and
// waits for its reply per message: at one record per verification that was
// one Redis round trip per request, and with a batch of 1000 the sink
// spent its time waiting on the network while the buffer filled. A batch is
// one pipeline here: one round trip.
//
// Each entry carries the three fields watermill's default marshaller
// writes: the message UUID (the record ID), empty metadata and the JSON
// payload; an entry written by a retry carries a fourth, RetryField "1",
// which watermill's unmarshaller ignores. They are written directly rather than through a watermill
// message and the marshaller's map, which cost several allocations per
// record for nothing (TestPublisherWritesWatermillFormat checks the result
// against watermill's unmarshaller).
type RedisPublisher struct {
	client *redis.Client
	stream string
	maxLen int64
}

// NewRedisPublisher connects to url and caps the stream at retention
// entries (approximately, as MAXLEN ~).
func NewRedisPublisher(ctx context.Context, url, stream string, retention int64, _ *slog.Logger) (*RedisPublisher, error) {
	client, err := redisstream.NewClient(ctx, url)
	if err != nil {
		return nil, err
	}
	return &RedisPublisher{client: client, stream: stream, maxLen: retention}, nil
}

// Publish implements Publisher. A failed pipeline may have appended part or
// all of the batch before the sink sends the whole batch again: the
// duplicates carry the same record IDs, and the retry's entries carry
// RetryField, so the projector writes any batch holding one as suspect
// (skipping the records already in ClickHouse, and repeats within the
// batch) and the rollup views count each record once.
func (p *RedisPublisher) Publish(ctx context.Context, evs []events.AnalyticsEvent, retry bool) error {
	pipe := p.client.Pipeline()
	args := make([]redis.XAddArgs, len(evs))
	// One buffer for the batch's bodies (a verification is about 300
	// bytes): a body keeps pointing at the array it was written to when a
	// later append moves the buffer.
	buf := make([]byte, 0, 320*len(evs))
	for i := range evs {
		start := len(buf)
		var err error
		if buf, err = appendRecord(buf, &evs[i]); err != nil {
			return err
		}
		values := []any{wredis.UUIDHeaderKey, evs[i].ID, "metadata", "", "payload", buf[start:len(buf):len(buf)]}
		if retry {
			values = append(values, RetryField, "1")
		}
		args[i] = redis.XAddArgs{Stream: p.stream, MaxLen: p.maxLen, Approx: true, Values: values}
		pipe.XAdd(ctx, &args[i])
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Close closes the publisher's client.
func (p *RedisPublisher) Close() error { return p.client.Close() }
