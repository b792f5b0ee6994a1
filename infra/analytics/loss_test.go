package analytics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/testenv"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// errorLines returns the lines of log at level ERROR.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// smallPublisher writes to env's stream with MAXLEN ~ maxLen.
func (e projectorEnv) smallPublisher(t *testing.T, maxLen int64) projectorEnv {
	t.Helper()
	pub, err := NewRedisPublisher(context.Background(), testenv.RedisURL(t), e.stream, maxLen, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	e.pub = pub
	return e
}

func (e projectorEnv) streamIDs(t *testing.T) map[string]bool {
	t.Helper()
	msgs, err := e.client.XRange(context.Background(), e.stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Values["_watermill_message_uuid"].(string)] = true
	}
	return ids
}

// The projector holds two batches (200 entries) pending when its insert
// fails; meanwhile 2000 more records are published into a stream capped
// near 300 entries. The 200 pending entries come back trimmed on the
// restart, and most of the 2000 were trimmed before the group read them:
// every record is either stored or counted lost, exactly, and both losses
// are logged at error level with their counts.
func TestProjectorCountsEntriesTrimmedBeforeTheyWereRead(t *testing.T) {
	env := newProjectorEnv(t)
	small := env.smallPublisher(t, 300)
	w := newFakeWriter()
	var log syncBuffer
	const batch = 100
	p := NewProjector(env.client, env.stream, w, "c1",
		configs.Analytics{InsertBatchSize: batch, InsertFlushIntervalMs: 20}, slog.New(slog.NewTextHandler(&log, nil)))

	hold := make(chan struct{})
	release := make(chan struct{})
	w.hook = func(call int, evs []events.AnalyticsEvent) (error, bool) {
		if call == 0 {
			close(hold)
			<-release
			return errors.New("clickhouse down (injected)"), false
		}
		return nil, true
	}
	first := small.publish(t, 2*batch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := supervise(ctx, p.Run)
	<-hold
	env.waitPending(t, 2*batch, "")
	second := small.publish(t, 2000)
	survivors := env.streamIDs(t)
	for _, id := range first {
		if survivors[id] {
			t.Fatalf("record %s of the pending batches was not trimmed; the test needs it trimmed", id)
		}
	}
	if len(survivors) >= len(second) || len(survivors) < 300 {
		t.Fatalf("the stream kept %d of %d entries, want about 300", len(survivors), len(second))
	}
	close(release)

	wantLost := int64(2*batch + len(second) - len(survivors))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		stored, _ := w.snapshot()
		return len(stored) == len(survivors) && p.Lost() == wantLost && env.pendingCount(t) == 0,
			fmt.Sprintf("%d stored (want %d), %d lost (want %d), %d pending",
				len(stored), len(survivors), p.Lost(), wantLost, env.pendingCount(t))
	})
	cancel()
	<-done
	stored, _ := w.snapshot()
	for id := range survivors {
		if stored[id] != 1 {
			t.Fatalf("surviving record %s stored %d times", id, stored[id])
		}
	}
	lines := errorLines(log.String())
	wantLines := []string{
		fmt.Sprintf("lost=%d lostTotal=%d stream=%s group=%s", 2*batch, 2*batch, env.stream, ProjectorGroup),
		fmt.Sprintf("lost=%d lostTotal=%d stream=%s group=%s", wantLost-2*batch, wantLost, env.stream, ProjectorGroup),
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("%d error lines, want %d:\n%s", len(lines), len(wantLines), log.String())
	}
	for i, want := range wantLines {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "analytics.retention") {
			t.Errorf("error line %d = %s\nwant it to contain %q and the analytics.retention hint", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "pending entries trimmed") || !strings.Contains(lines[1], "before the group read them") {
		t.Errorf("the lines do not say which loss they report:\n%s", strings.Join(lines, "\n"))
	}
}

// Entries pending with a dead consumer that the stream trimmed are dropped
// from the pending list by XAUTOCLAIM (Redis 7): counted as lost.
func TestClaimStaleCountsTrimmedEntries(t *testing.T) {
	env := newProjectorEnv(t)
	ctx := context.Background()
	env.publish(t, 50)
	var log syncBuffer
	dead := groupReader{client: env.client, streams: []string{env.stream}, group: ProjectorGroup, consumer: "dead"}
	if err := dead.ensureGroup(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if es, err := dead.fresh(ctx, 50, -1); err != nil || len(es) != 50 {
		t.Fatalf("dead read %d entries (%v), want 50", len(es), err)
	}
	env.smallPublisher(t, 100).publish(t, 1000)
	alive := groupReader{client: env.client, streams: []string{env.stream}, group: ProjectorGroup, consumer: "alive",
		logger: slog.New(slog.NewTextHandler(&log, nil))}
	es, _, err := alive.claimStale(ctx, 0, "0", suspectBatch)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 || alive.lost.Load() != 50 {
		t.Fatalf("claimed %d entries, %d lost; want 0 and 50", len(es), alive.lost.Load())
	}
	if n := env.pendingCount(t); n != 0 {
		t.Fatalf("%d entries still pending", n)
	}
	if lines := errorLines(log.String()); len(lines) != 1 || !strings.Contains(lines[0], "lost=50 ") {
		t.Fatalf("error lines: %q", lines)
	}
}

// keyline consume counts and logs entries trimmed before its group read
// them, and prints every entry that is left.
func TestConsumerCountsEntriesTrimmedBeforeTheyWereRead(t *testing.T) {
	url := testenv.RedisURL(t)
	rcfg := &configs.Redis{URL: url, StreamPrefix: testenv.RedisPrefix(t)}
	client, err := redisstream.NewClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	env := projectorEnv{client: client, stream: rcfg.Stream(redisstream.AnalyticsTopic)}
	big := env.smallPublisher(t, 1_000_000)
	small := env.smallPublisher(t, 100)

	run := func(c *Consumer, out *syncBuffer, lines int) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, true, out) }()
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			n := strings.Count(out.String(), "\n")
			return n == lines, fmt.Sprintf("%d lines, want %d", n, lines)
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var out, log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	big.publish(t, 50)
	c := NewConsumer(client, rcfg, "g", "c1", logger)
	run(c, &out, 50)
	if c.Lost() != 0 || log.String() != "" {
		t.Fatalf("lost %d, log %q before any trimming", c.Lost(), log.String())
	}

	small.publish(t, 1000)
	left := len(env.streamIDs(t))
	c = NewConsumer(client, rcfg, "g", "c1", logger)
	run(c, &out, 50+left)
	if want := int64(1000 - left); c.Lost() != want {
		t.Fatalf("lost %d, want %d (1000 published, %d left)", c.Lost(), want, left)
	}
	lines := errorLines(log.String())
	want := fmt.Sprintf("lost=%d lostTotal=%d stream=%s group=g", 1000-left, 1000-left, env.stream)
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("error lines %q, want one with %q", lines, want)
	}
}

// ambiguousPublisher applies a publish and then reports it failed, the
// first fails times: a timeout after Redis applied the batch.
type ambiguousPublisher struct {
	inner *RedisPublisher
	mu    sync.Mutex
	fails int
	calls []bool // retry flag of each call
}

func (a *ambiguousPublisher) Publish(ctx context.Context, evs []events.AnalyticsEvent, retry bool) error {
	if err := a.inner.Publish(ctx, evs, retry); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, retry)
	if len(a.calls) <= a.fails {
		return errors.New("i/o timeout (injected, after the batch was applied)")
	}
	return nil
}

// A batch whose publish is retried after an ambiguous failure is in the
// stream twice, the second time marked; the projector writes the marked
// entries as suspect, so each record is stored once, whether the copies
// land in different insert batches or in the same one.
func TestRetriedPublishIsMarkedAndWrittenAsSuspect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		batch     int
		wantCalls []fakeCall
	}{
		{"copies in two insert batches", 10, []fakeCall{{n: 10}, {n: 10, suspect: true}}},
		{"copies in one insert batch", 1000, []fakeCall{{n: 20, suspect: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newProjectorEnv(t)
			pub := &ambiguousPublisher{inner: env.pub, fails: 1}
			sink := NewSink(configs.Analytics{BufferSize: 100, BatchSize: 10, FlushIntervalMs: 10}, pub, discard())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sinkDone := make(chan error, 1)
			go func() { sinkDone <- sink.Run(ctx) }()
			var ids []string
			for i := range 10 {
				ev := events.NewKeyVerified(time.Now().UnixMilli(), "req_r", "ws_r", "local",
					events.KeyVerified{KeySpaceID: "ks", KeyID: fmt.Sprintf("key_%d", i), Outcome: "VALID"})
				ev.ID = NewID()
				ids = append(ids, ev.ID)
				sink.Emit(ev)
			}
			testenv.Eventually(t, 10*time.Second, func() (bool, string) {
				return sink.Published() == 10, fmt.Sprintf("%d published", sink.Published())
			})
			msgs, err := env.client.XRange(ctx, env.stream, "-", "+").Result()
			if err != nil || len(msgs) != 20 {
				t.Fatalf("stream holds %d entries (%v), want 20: the batch and its retry", len(msgs), err)
			}
			for i, m := range msgs {
				_, marked := m.Values[RetryField]
				if uuid := m.Values["_watermill_message_uuid"]; uuid != ids[i%10] || marked != (i >= 10) {
					t.Fatalf("entry %d: record %v, marked %v; want %s, marked %v", i, uuid, marked, ids[i%10], i >= 10)
				}
			}
			if pub.calls[0] || !pub.calls[1] {
				t.Fatalf("publish calls with retry flags %v, want [false true]", pub.calls)
			}

			w := newFakeWriter()
			p := NewProjector(env.client, env.stream, w, "c1",
				configs.Analytics{InsertBatchSize: tc.batch, InsertFlushIntervalMs: 50}, discard())
			done := supervise(ctx, p.Run)
			testenv.Eventually(t, 10*time.Second, func() (bool, string) {
				// The writes come before the group's acknowledgement.
				_, calls := w.snapshot()
				if len(calls) < len(tc.wantCalls) {
					return false, fmt.Sprintf("%d writes", len(calls))
				}
				n := env.pendingCount(t)
				return n == 0, fmt.Sprintf("%d pending", n)
			})
			cancel()
			if errs := <-done; len(errs) != 0 {
				t.Fatal(errs)
			}
			<-sinkDone
			stored, calls := w.snapshot()
			for _, id := range ids {
				if stored[id] != 1 {
					t.Fatalf("record %s stored %d times", id, stored[id])
				}
			}
			if fmt.Sprint(calls) != fmt.Sprint(tc.wantCalls) {
				t.Fatalf("writes %+v, want %+v", calls, tc.wantCalls)
			}
			if p.Lost() != 0 {
				t.Fatalf("%d lost", p.Lost())
			}
		})
	}
}
