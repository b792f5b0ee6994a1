package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// ProjectorGroup is the consumer group of the ClickHouse projector: every
// node's projector is a consumer of it, so each entry is inserted by one.
const ProjectorGroup = "keyline-clickhouse"

// staleAfter is how long an entry may sit unacknowledged with another
// consumer before this one takes it over.
const staleAfter = time.Minute

// readChunk bounds one XREADGROUP: Redis is single-threaded and also serves
// the rate-limit counters, so one reply of a whole insert batch (50k
// entries, ~20 MB) would stall them; several smaller reads cost a few
// round trips per insert.
const readChunk = 5000

// suspectBatch bounds a suspect write (entries that may already be in
// ClickHouse). The writer checks them with `event_id IN (...)`, and
// ClickHouse refuses a query longer than max_query_size (256 KiB by
// default): about 6 500 record IDs. Suspect writes are rare (after a crash,
// a failed insert or a dead node), so they keep the old batch size.
const suspectBatch = 1000

// AnalyticsWriter stores analytics records: *clickhouse.DB. With suspect
// set, records already stored are skipped (see WriteAnalytics).
type AnalyticsWriter interface {
	WriteAnalytics(ctx context.Context, evs []events.AnalyticsEvent, suspect bool) (int, error)
}

// Projector moves records from the analytics stream into ClickHouse.
//
// Reading and inserting overlap: one goroutine reads and decodes the next
// batch while the other inserts the previous one, and the hand-over between
// them is unbuffered, so at most two batches are in memory (one being
// inserted, one read and waiting). Entries are acknowledged only after
// ClickHouse accepted their insert, batch after batch in stream order; an
// insert error stops both, and everything read and not acknowledged is
// pending in the group, which the restart writes again as suspect.
type Projector struct {
	reader groupReader
	db     AnalyticsWriter
	batch  int
	flush  time.Duration
	logger *slog.Logger
	// lastBatch is the size of the reader's previous batch: the next one
	// is allocated that large at once instead of growing by copies.
	lastBatch int
}

// ConsumerName is this node's stable name in consumer groups: the cluster
// node ID when configured, else the host name. Stable, so that a restarted
// process finds the entries its predecessor left unacknowledged.
func ConsumerName(cfg *configs.Config) string {
	if cfg.Cluster != nil && cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "keyline"
}

// NewProjector builds the projector over its own Redis client. Its insert
// batches are bounded by analytics.insertBatchSize and
// analytics.insertFlushIntervalMs, independently of the sink's stream
// batches.
func NewProjector(client *redis.Client, stream string, db AnalyticsWriter, consumer string, cfg configs.Analytics, logger *slog.Logger) *Projector {
	return &Projector{
		reader: groupReader{client: client, streams: []string{stream}, group: ProjectorGroup, consumer: consumer, logger: logger},
		db:     db, batch: max(cfg.InsertBatchSize, 1),
		flush:  time.Duration(max(cfg.InsertFlushIntervalMs, 1)) * time.Millisecond,
		logger: logger,
	}
}

// Lost is how many stream entries were lost since start: trimmed by the
// stream's MAXLEN (analytics.retention) before this projector read them, or
// while they were pending with it. Each detection is also logged at error
// level.
func (p *Projector) Lost() int64 { return p.reader.lost.Load() }

// insertBatch is one insert: the decoded records and the stream IDs of the
// entries to acknowledge once they are stored. It is suspect when its
// records may be stored already: redelivered or claimed entries, or any
// entry written by a retried publish (RetryField).
type insertBatch struct {
	ids     []string
	evs     []events.AnalyticsEvent
	suspect bool
}

// Run projects until ctx ends or an error occurs; the supervisor restarts
// it, and the restart begins with whatever was left unacknowledged.
func (p *Projector) Run(ctx context.Context) error {
	if err := p.reader.ensureGroup(ctx, "0"); err != nil {
		return err
	}
	// Entries delivered to us before a crash or a failed insert may or may
	// not be in ClickHouse: suspect.
	if err := p.recoverPending(ctx); err != nil {
		return err
	}

	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	batches := make(chan insertBatch) // unbuffered: one inserting, one waiting
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- p.read(readCtx, batches)
	}()
	for b := range batches {
		if err := p.insert(ctx, b); err != nil {
			// Stop the reader; what it read stays pending for the restart.
			stopReading()
			for range batches {
			}
			<-readErr
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if err := <-readErr; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// recoverPending writes, as suspect, every entry delivered to this consumer
// and never acknowledged, oldest first.
func (p *Projector) recoverPending(ctx context.Context) error {
	after := "0"
	for {
		es, err := p.reader.pendingAfter(ctx, after, suspectBatch)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		after = es[len(es)-1].RedisID
		if err := p.insert(ctx, p.decode(es, true)); err != nil {
			return err
		}
	}
}

// read hands batches to the inserter until ctx ends or reading fails:
// entries another consumer left stale (suspect), then fresh ones.
func (p *Projector) read(ctx context.Context, out chan<- insertBatch) error {
	send := func(b insertBatch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) > staleAfter/2 {
			lastClaim = time.Now()
			start := "0"
			for ctx.Err() == nil {
				es, next, err := p.reader.claimStale(ctx, staleAfter, start, suspectBatch)
				if err != nil {
					return err
				}
				if len(es) > 0 && !send(p.decode(es, true)) {
					return nil
				}
				if next == "0-0" || next == "" || len(es) == 0 {
					break
				}
				start = next
			}
		}
		b, err := p.collect(ctx)
		if err != nil {
			return err
		}
		if len(b.ids) > 0 && !send(b) {
			return nil
		}
	}
	return nil
}

// collect gathers up to batch fresh entries, decoded, waiting at most one
// flush interval after the first one arrived. An idle interval returns an
// empty batch.
func (p *Projector) collect(ctx context.Context) (insertBatch, error) {
	var b insertBatch
	deadline := time.Now().Add(p.flush)
	for len(b.ids) < p.batch {
		wait := time.Until(deadline)
		if wait < time.Millisecond {
			break
		}
		es, err := p.reader.fresh(ctx, min(p.batch-len(b.ids), readChunk), wait)
		if err != nil {
			return b, err
		}
		if len(es) == 0 && len(b.ids) == 0 {
			// Idle: start the next interval from the first arrival.
			return b, nil
		}
		p.decodeInto(&b, es)
	}
	p.lastBatch = len(b.ids)
	return b, nil
}

func (p *Projector) decode(es []entry, suspect bool) insertBatch {
	b := insertBatch{suspect: suspect, ids: make([]string, 0, len(es)), evs: make([]events.AnalyticsEvent, 0, len(es))}
	p.decodeInto(&b, es)
	return b
}

// decodeInto appends es to b: each entry for the acknowledgement, and the
// record it carries, if any, for the insert.
func (p *Projector) decodeInto(b *insertBatch, es []entry) {
	if b.evs == nil {
		// A busy stream fills batches of about the same size one after
		// another: allocate the previous batch's size at once rather than
		// growing (and copying) the slices up to it.
		n := max(len(es), min(p.lastBatch, p.batch))
		b.ids = make([]string, 0, n)
		b.evs = make([]events.AnalyticsEvent, 0, n)
	}
	for _, e := range es {
		b.ids = append(b.ids, e.RedisID)
		// An entry of a retried publish may repeat a record of an earlier
		// entry, in this batch or a previous one: the writer must check.
		b.suspect = b.suspect || e.Retry
		if len(e.Payload) == 0 {
			continue
		}
		b.evs = append(b.evs, events.AnalyticsEvent{})
		if err := decodeRecord(e.Payload, &b.evs[len(b.evs)-1]); err != nil || b.evs[len(b.evs)-1].ID == "" {
			// A record this build cannot read would block the stream
			// forever; it is logged and skipped.
			p.logger.Error("skipping unreadable analytics record", "redisId", e.RedisID, "error", err)
			b.evs = b.evs[:len(b.evs)-1]
		}
	}
}

// insert writes b and only then acknowledges its entries. A suspect batch
// goes to the writer in pieces small enough for its dedup check.
func (p *Projector) insert(ctx context.Context, b insertBatch) error {
	step := len(b.evs)
	if b.suspect {
		step = suspectBatch
	}
	for i := 0; i < len(b.evs); i += step {
		part := b.evs[i:min(i+step, len(b.evs))]
		if _, err := p.db.WriteAnalytics(ctx, part, b.suspect); err != nil {
			return fmt.Errorf("writing %d analytics records: %w", len(part), err)
		}
	}
	// Should the ack fail, the entries stay pending and are re-checked.
	return p.reader.ackIDs(ctx, p.reader.streams[0], b.ids)
}
