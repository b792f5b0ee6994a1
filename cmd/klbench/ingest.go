package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
)

// ingestResult is one end-to-end analytics ingest measurement.
type ingestResult struct {
	emitted, dropped, landed int64
	window                   int64         // most records emitted and not yet in ClickHouse
	emitFor                  time.Duration // emission window
	total                    time.Duration // first emission to the last row visible
	emitRate                 float64       // records/s emitted
	e2eRate                  float64       // rows/s from first emission to the last row visible
}

// ingestWindow is the smallest bound on records emitted but not yet
// counted in ClickHouse: a few seconds of the target rate.
const ingestWindow = 100_000

// windowFor is the bound on records emitted but not yet in ClickHouse for
// the analytics settings an: three insert batches (the projector holds one
// being inserted and one read, the stream collects the next) when that is
// more than ingestWindow, and never more than half of analytics.retention.
// Rows land in stream order, so the unlanded records are the newest ones,
// and the stream's MAXLEN only ever trims records already in ClickHouse.
func windowFor(an configs.Analytics) int64 {
	w := max(int64(ingestWindow), 3*int64(an.InsertBatchSize))
	return min(w, an.Retention/2)
}

var ingestOutcomes = []string{"VALID", "RATE_LIMITED", "USAGE_EXCEEDED", "NOT_FOUND"}

// ingest measures the analytics pipeline end to end: records are emitted
// through the server's own sink (as handlers emit them, and as
// cmd/keyline/analytics_test.go's emitVerifications does) for emitFor, and
// the clock stops when ClickHouse's raw table holds all of them.
//
// The sink never blocks and drops when its buffer (analytics.bufferSize) is
// full, so emitting flat out would measure the drop counter; and records the
// projector has not read yet are trimmed from the stream past
// analytics.retention. The emitters therefore keep at most half a sink
// buffer and one batch unpublished, and at most windowFor records not yet in
// ClickHouse: they run at the rate the whole pipeline takes, which is the
// sustained ingest rate the issue asks about.
func ingest(ctx context.Context, s *server, chURL string, emitters int, emitFor, drainMax time.Duration) (ingestResult, error) {
	sink := s.srv.Analytics.Sink
	db, err := clickhouse.Open(ctx, chURL)
	if err != nil {
		return ingestResult{}, err
	}
	defer db.Close()
	count := func() (int64, error) {
		var n uint64
		err := db.Conn.QueryRow(ctx, "SELECT count() FROM key_verifications_raw_v1").Scan(&n)
		return int64(n), err
	}

	// The sink holds its buffer plus the batch it is filling; leaving room
	// for a whole batch keeps a batch larger than half the buffer from
	// waiting on the flush timer.
	an := s.srv.Config.Analytics
	inFlight := int64(max(an.BufferSize, configs.DefaultAnalyticsBuffer)/2 + max(an.BatchSize, 1))
	window := windowFor(an)
	basePub, baseDrop := sink.Published(), sink.Dropped()
	var emitted, landed atomic.Int64
	start := time.Now()
	stopAt := start.Add(emitFor)
	pollDone := make(chan struct{})
	var pollErr error
	go func() {
		defer close(pollDone)
		for time.Now().Before(stopAt) {
			n, err := count()
			if err != nil {
				pollErr = err
				landed.Store(1 << 62) // release the emitters
				return
			}
			landed.Store(n)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range emitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tags := []string{fmt.Sprintf("klbench_%d", g)}
			for i := 0; time.Now().Before(stopAt); i++ {
				for emitted.Load()-(sink.Published()-basePub)-(sink.Dropped()-baseDrop) >= inFlight ||
					emitted.Load()-landed.Load() >= window {
					if !time.Now().Before(stopAt) {
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
				now := time.Now()
				sink.Emit(events.NewKeyVerified(now.UnixMilli(), "req_klbench", "ws_klbench", "local", events.KeyVerified{
					KeySpaceID: "ks_klbench", KeyID: fmt.Sprintf("key_%d", i%7), Outcome: ingestOutcomes[i%len(ingestOutcomes)],
					Tags: tags, SpentCredits: 1, LatencyMs: 0.1}))
				emitted.Add(1)
			}
		}()
	}
	wg.Wait()
	emitEnd := time.Now()
	<-pollDone
	if pollErr != nil {
		return ingestResult{}, pollErr
	}
	r := ingestResult{emitted: emitted.Load(), emitFor: emitEnd.Sub(start), window: window}
	// Records still in the sink's buffer are published within one flush
	// interval, or dropped: wait until each is one or the other.
	for time.Since(emitEnd) < drainMax && (sink.Published()-basePub)+(sink.Dropped()-baseDrop) < r.emitted {
		time.Sleep(10 * time.Millisecond)
	}
	r.dropped = sink.Dropped() - baseDrop
	r.emitRate = float64(r.emitted) / r.emitFor.Seconds()
	want := r.emitted - r.dropped
	for {
		n, err := count()
		if err != nil {
			return r, err
		}
		r.landed, r.total = n, time.Since(start)
		if n >= want {
			break
		}
		if time.Since(emitEnd) > drainMax {
			return r, fmt.Errorf("only %d of %d records reached ClickHouse within %s of the last emission", n, want, drainMax)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.e2eRate = float64(r.landed) / r.total.Seconds()
	return r, nil
}
