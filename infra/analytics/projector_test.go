package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/testenv"
)

// fakeWriter stands in for ClickHouse. It stores every record it is given
// (a repeated fresh record is stored twice, as the rollup views would count
// it), skips records it already holds when the write is suspect (as
// WriteAnalytics does), and lets a test hold or fail a write.
type fakeWriter struct {
	mu     sync.Mutex
	stored map[string]int // record ID -> times stored
	calls  []fakeCall

	// hook, when set, runs at the start of every write; an error fails the
	// write. With store set, the records are stored before failing (an
	// ambiguous error: the insert went through, its answer was lost).
	hook func(call int, evs []events.AnalyticsEvent) (err error, store bool)
}

type fakeCall struct {
	n       int
	suspect bool
	failed  bool
}

func newFakeWriter() *fakeWriter { return &fakeWriter{stored: map[string]int{}} }

func (w *fakeWriter) WriteAnalytics(_ context.Context, evs []events.AnalyticsEvent, suspect bool) (int, error) {
	w.mu.Lock()
	call := len(w.calls)
	hook := w.hook
	w.mu.Unlock()
	var err error
	store := true
	if hook != nil {
		err, store = hook(call, evs)
		store = store || err == nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, fakeCall{n: len(evs), suspect: suspect, failed: err != nil})
	if store {
		for _, e := range evs {
			if suspect && w.stored[e.ID] > 0 {
				continue
			}
			w.stored[e.ID]++
		}
	}
	if err != nil {
		return 0, err
	}
	return len(evs), nil
}

func (w *fakeWriter) snapshot() (map[string]int, []fakeCall) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[string]int, len(w.stored))
	for k, v := range w.stored {
		m[k] = v
	}
	return m, append([]fakeCall(nil), w.calls...)
}

type projectorEnv struct {
	client *redis.Client
	stream string
	pub    *RedisPublisher
}

func newProjectorEnv(t *testing.T) projectorEnv {
	t.Helper()
	url := testenv.RedisURL(t)
	stream := testenv.RedisPrefix(t) + redisstream.AnalyticsTopic
	client, err := redisstream.NewClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	pub, err := NewRedisPublisher(context.Background(), url, stream, 1_000_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return projectorEnv{client: client, stream: stream, pub: pub}
}

// publish appends n verification records to the stream and returns their IDs.
func (e projectorEnv) publish(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	evs := make([]events.AnalyticsEvent, 0, 1000)
	for i := range n {
		ev := events.NewKeyVerified(time.Now().UnixMilli(), "req_p", "ws_p", "local",
			events.KeyVerified{KeySpaceID: "ks", KeyID: fmt.Sprintf("key_%d", i%7), Outcome: "VALID", Tags: []string{"t"}})
		ev.ID = NewID()
		ids = append(ids, ev.ID)
		evs = append(evs, ev)
		if len(evs) == cap(evs) || i == n-1 {
			if err := e.pub.Publish(context.Background(), evs, false); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	return ids
}

func (e projectorEnv) pendingCount(t *testing.T) int64 {
	t.Helper()
	p, err := e.client.XPending(context.Background(), e.stream, ProjectorGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// waitPending waits until the group holds want delivered, unacknowledged
// entries; why says what they are, for the failure message.
func (e projectorEnv) waitPending(t *testing.T, want int64, why string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		n := e.pendingCount(t)
		return n == want, fmt.Sprintf("%d entries pending, want %d%s", n, want, why)
	})
}

// supervise runs a projector's run as infra/runtime does: restarted after
// every error, until ctx ends. It returns the errors it restarted after.
func supervise(ctx context.Context, run func(context.Context) error) <-chan []error {
	done := make(chan []error, 1)
	go func() {
		var errs []error
		for ctx.Err() == nil {
			if err := run(ctx); err != nil {
				errs = append(errs, err)
				time.Sleep(10 * time.Millisecond)
			}
		}
		done <- errs
	}()
	return done
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// While batch N is being inserted, batch N+1 is read and waits, and nothing
// more: two batches pending, none acknowledged before its insert returned.
// An insert that fails leaves its entries, and the next batch's, pending;
// the restart writes them as suspect, and every record ends up stored
// exactly once, in the projector's batches of at most insertBatchSize.
func TestProjectorAcksOnlyAfterInsertAndKeepsEveryRecord(t *testing.T) {
	env := newProjectorEnv(t)
	w := newFakeWriter()
	const batch = 1000
	p := NewProjector(env.client, env.stream, w, "c1",
		configs.Analytics{InsertBatchSize: batch, InsertFlushIntervalMs: 20}, discard())

	hold := make(chan struct{})
	release := make(chan error)
	w.hook = func(call int, evs []events.AnalyticsEvent) (error, bool) {
		if call == 0 {
			close(hold)
			// An ambiguous failure: the rows went in, the answer did not
			// come back.
			return <-release, true
		}
		return nil, true
	}
	ids := env.publish(t, 10*batch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := supervise(ctx, p.Run)

	<-hold
	// The first insert is held: the reader has read the next batch and
	// waits for the inserter, nothing is acknowledged.
	env.waitPending(t, 2*batch, " (one inserting, one read)")
	time.Sleep(100 * time.Millisecond)
	if n := env.pendingCount(t); n != 2*batch {
		t.Fatalf("%d entries pending while the first insert is held, want %d: the reader is not bounded", n, 2*batch)
	}
	release <- errors.New("connection reset (injected)")

	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		stored, _ := w.snapshot()
		return len(stored) == len(ids) && env.pendingCount(t) == 0,
			fmt.Sprintf("%d of %d stored, %d pending", len(stored), len(ids), env.pendingCount(t))
	})
	cancel()
	errs := <-done
	if len(errs) != 1 {
		t.Errorf("the projector restarted after %v, want the one injected error", errs)
	}
	stored, calls := w.snapshot()
	for _, id := range ids {
		if stored[id] != 1 {
			t.Fatalf("record %s stored %d times", id, stored[id])
		}
	}
	suspect := 0
	for i, c := range calls {
		if c.n > batch || (c.suspect && c.n > suspectBatch) {
			t.Errorf("write %d had %d records (suspect %v)", i, c.n, c.suspect)
		}
		if c.suspect {
			suspect += c.n
		}
	}
	// The failed batch and the one read behind it came back as suspect.
	if suspect != 2*batch {
		t.Errorf("%d records written as suspect, want %d: %+v", suspect, 2*batch, calls)
	}
}

// A failure that stored nothing: the records are written again after the
// restart, once. And a quiet stream still lands within the flush interval.
func TestProjectorRetriesAFailedInsertAndFlushesAQuietStream(t *testing.T) {
	env := newProjectorEnv(t)
	w := newFakeWriter()
	p := NewProjector(env.client, env.stream, w, "c1",
		configs.Analytics{InsertBatchSize: 50_000, InsertFlushIntervalMs: 200}, discard())
	fails := 2
	w.hook = func(call int, evs []events.AnalyticsEvent) (error, bool) {
		if call < fails {
			return errors.New("clickhouse down (injected)"), false
		}
		return nil, true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := supervise(ctx, p.Run)
	ids := env.publish(t, 10)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		stored, _ := w.snapshot()
		return len(stored) == len(ids), fmt.Sprintf("%d of %d stored", len(stored), len(ids))
	})

	// Quiet: one record lands within about one flush interval.
	more := env.publish(t, 1)
	start := time.Now()
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		stored, _ := w.snapshot()
		return stored[more[0]] == 1, "the last record is not stored"
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("a single record took %v to land with a 200 ms flush interval", d)
	}
	cancel()
	if errs := <-done; len(errs) != fails {
		t.Errorf("restarted after %v, want %d injected errors", errs, fails)
	}
	stored, _ := w.snapshot()
	for _, id := range append(ids, more...) {
		if stored[id] != 1 {
			t.Fatalf("record %s stored %d times", id, stored[id])
		}
	}
}

// Entries another consumer read and never acknowledged (a dead node) are
// claimed after staleAfter, in suspect batches, however many there are.
func TestProjectorClaimsEveryStaleEntry(t *testing.T) {
	env := newProjectorEnv(t)
	ids := env.publish(t, 2500)
	ctx := context.Background()
	if err := env.client.XGroupCreateMkStream(ctx, env.stream, ProjectorGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	// "dead" reads everything and dies.
	if err := env.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ProjectorGroup, Consumer: "dead",
		Streams: []string{env.stream, ">"}, Count: 10_000}).Err(); err != nil {
		t.Fatal(err)
	}
	r := groupReader{client: env.client, streams: []string{env.stream}, group: ProjectorGroup, consumer: "alive"}
	var claimed []entry
	start := "0"
	for {
		es, next, err := r.claimStale(ctx, 0, start, suspectBatch)
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, es...)
		if next == "0-0" || len(es) == 0 {
			break
		}
		start = next
	}
	if len(claimed) != len(ids) {
		t.Fatalf("claimed %d of %d stale entries", len(claimed), len(ids))
	}
	for i, e := range claimed {
		var ev events.AnalyticsEvent
		if err := decodeRecord(e.Payload, &ev); err != nil || ev.ID != ids[i] {
			t.Fatalf("claimed entry %d: %q (%v), want record %s", i, ev.ID, err, ids[i])
		}
	}
}
