package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// appendLockKey is the advisory lock every PostgreSQL append holds until it
// commits. See the package doc for why appends are serialised.
const appendLockKey = 7340581

// Applier applies freshly appended events to the read models inside the
// append's transaction, so that a write that answered is already readable.
type Applier interface {
	Apply(ctx context.Context, tx bun.Tx, recs []events.Recorded) error
}

// Outbox receives the appended events inside the append's transaction, so a
// rolled-back append publishes nothing and a committed one is never lost.
type Outbox interface {
	Publish(ctx context.Context, tx bun.Tx, recs []events.Recorded) error
}

// Store is the event log.
type Store struct {
	db      *DB
	applier Applier
	outbox  Outbox
	now     func() time.Time

	mu        sync.RWMutex
	committed []func([]events.Recorded)
	observers []func(d time.Duration, events int, err error)

	appender   appender   // the group commit (groupcommit.go)
	appendConn appendConn // the appender's connection on SQLite (appendconn.go)

	tracer trace.Tracer // nil unless Trace was called
}

// NewStore builds the log over db. applier and outbox may be nil.
func NewStore(db *DB, applier Applier, outbox Outbox) *Store {
	return &Store{db: db, applier: applier, outbox: outbox, now: time.Now}
}

// DB returns the databases the log lives in.
func (s *Store) DB() *DB { return s.db }

// OnCommit registers fn to run after every append of this process commits,
// with the events it appended (once per append, in commit order, even when
// one transaction committed several appends). fn must not block: it runs on
// the appender's goroutine, before the writer gets its answer.
func (s *Store) OnCommit(fn func([]events.Recorded)) {
	s.mu.Lock()
	s.committed = append(s.committed, fn)
	s.mu.Unlock()
}

// ObserveAppends registers fn to run after every append of this process,
// committed or not, with its duration (the wait for its group and the
// append lock included),
// the number of events and its error. The metrics count and time appends
// through it; fn must not block.
func (s *Store) ObserveAppends(fn func(d time.Duration, events int, err error)) {
	s.mu.Lock()
	s.observers = append(s.observers, fn)
	s.mu.Unlock()
}

// Append writes evs to the end of streamID if the stream is still at
// expectedVersion (0 for a new stream), and returns them as recorded.
// It returns events.ErrVersionConflict when another writer moved the stream.
//
// The call joins the store's group commit (groupcommit.go): it waits for
// the appender, which commits it in one transaction with the other appends
// waiting at that moment, and answers after that transaction ended. A
// caller whose ctx ends while it still waits for a group withdraws its
// append (nothing is written); once its group has started, the group goes
// on and the append may commit even though the caller got ctx's error.
func (s *Store) Append(ctx context.Context, streamID string, expectedVersion int64, meta events.Metadata, evs ...events.Event) (recs []events.Recorded, err error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if s.tracer != nil {
		var span trace.Span
		ctx, span = s.tracer.Start(ctx, "eventlog.append", trace.WithAttributes(
			attribute.String("keyline.stream_id", streamID),
			attribute.Int("keyline.event_count", len(evs)),
			attribute.String("keyline.event_name", evs[0].EventName()),
		))
		defer func() {
			if err != nil && !errors.Is(err, events.ErrVersionConflict) {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			if len(recs) > 0 {
				span.SetAttributes(attribute.Int64("keyline.position", recs[len(recs)-1].Position))
			}
			span.End()
		}()
	}
	// Encoding happens here, on the caller's goroutine, so that the
	// appender (one per store) spends its time on the database only.
	c := &command{ctx: ctx, streamID: streamID, expected: expectedVersion, meta: meta, evs: evs,
		payloads: make([]string, len(evs)), enqueued: time.Now(), done: make(chan struct{})}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encoding event metadata: %w", err)
	}
	c.metaJSON = string(metaJSON)
	for i, e := range evs {
		payload, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", e.EventName(), err)
		}
		c.payloads[i] = string(payload)
	}
	c.occurred = s.now().UnixMilli()
	return s.submit(c)
}

// WithAppendLock runs fn in a primary transaction that holds the append lock,
// so no event can be appended while fn runs. Replay uses it to rebuild read
// models without racing live writers.
func (s *Store) WithAppendLock(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.db.Kind == configs.KindPostgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", appendLockKey); err != nil {
				return fmt.Errorf("taking the append lock: %w", err)
			}
		}
		return fn(ctx, tx)
	})
}

// Load returns every event of one stream in order, from the primary: deciding
// on a stale replica copy would only produce version conflicts.
func (s *Store) Load(ctx context.Context, streamID string) ([]events.Recorded, error) {
	rows, err := s.db.Primary.QueryContext(ctx,
		`SELECT position, stream_id, stream_version, name, version, payload, meta, occurred_at
		 FROM events WHERE stream_id = ? ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("loading stream %s: %w", streamID, err)
	}
	return scanRecorded(rows)
}

// ReadAfter returns up to limit events with a position above after, in
// position order, read through db (a transaction during replay).
func (s *Store) ReadAfter(ctx context.Context, db bun.IDB, after int64, limit int) ([]events.Recorded, error) {
	if db == nil {
		db = s.db.Primary
	}
	rows, err := db.QueryContext(ctx,
		`SELECT position, stream_id, stream_version, name, version, payload, meta, occurred_at
		 FROM events WHERE position > ? ORDER BY position LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading events after %d: %w", after, err)
	}
	return scanRecorded(rows)
}

// Head returns the highest committed position (0 for an empty log).
func (s *Store) Head(ctx context.Context, db bun.IDB) (int64, error) {
	if db == nil {
		db = s.db.Primary
	}
	var head int64
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM events").Scan(&head); err != nil {
		return 0, fmt.Errorf("reading log head: %w", err)
	}
	return head, nil
}

// Count returns the number of events above position after.
func (s *Store) Count(ctx context.Context, db bun.IDB, after int64) (int64, error) {
	if db == nil {
		db = s.db.Primary
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM events WHERE position > ?", after).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting events: %w", err)
	}
	return n, nil
}

func scanRecorded(rows *sql.Rows) ([]events.Recorded, error) {
	defer rows.Close()
	var out []events.Recorded
	// meta is decoded before the next row, so one buffer serves them all.
	var meta sql.RawBytes
	for rows.Next() {
		var (
			r              events.Recorded
			payload        []byte
			occurredMillis int64
		)
		if err := rows.Scan(&r.Position, &r.StreamID, &r.StreamVersion, &r.Name, &r.Version, &payload, &meta, &occurredMillis); err != nil {
			return nil, fmt.Errorf("scanning event: %w", err)
		}
		r.Payload = json.RawMessage(payload)
		var err error
		if r.Meta, err = decodeMeta(meta); err != nil {
			return nil, fmt.Errorf("decoding metadata of event %d: %w", r.Position, err)
		}
		r.OccurredAt = time.UnixMilli(occurredMillis)
		out = append(out, r)
	}
	return out, rows.Err()
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	// pgx reports SQLSTATE 23505; modernc sqlite says "UNIQUE constraint failed".
	return strings.Contains(msg, "23505") || strings.Contains(msg, "UNIQUE constraint failed")
}
