package clickhouse

import (
	"context"
	"fmt"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/keyline/keyline/events"
)

// insertContext names the insert's query queryID (when set), which lets a
// later retry see whether it is still running, and asks a modern server to
// buffer the insert server-side but to answer only once the rows are
// written (wait_for_async_insert), so an acknowledgement still means
// "stored".
func (db *DB) insertContext(ctx context.Context, queryID string) context.Context {
	var opts []ch.QueryOption
	if queryID != "" {
		opts = append(opts, ch.WithQueryID(queryID))
	}
	if db.Features.AsyncInsert {
		opts = append(opts, ch.WithSettings(ch.Settings{"async_insert": 1, "wait_for_async_insert": 1}))
	}
	if len(opts) == 0 {
		return ctx
	}
	return ch.Context(ctx, opts...)
}

// WriteAnalytics stores a batch of analytics records. With suspect set (the
// batch, or part of it, may already have been inserted: a retry after an
// ambiguous error, or messages redelivered after a crash) the records
// already present are skipped, because the rollup views would count a
// repeated insert twice; and the rollups of the batches they were inserted
// with are checked and, where a crash cut the insert short, re-derived from
// the raw table (see batches.go). Fresh deliveries skip all of that: the
// stream hands each entry to one consumer of the group once.
//
// Each raw table gets one block under a fresh batch ID, which ClickHouse
// writes atomically: a batch is in the raw table completely or not at all.
func (db *DB) WriteAnalytics(ctx context.Context, evs []events.AnalyticsEvent, suspect bool) (written int, err error) {
	ctx, span := db.startSpan(ctx, "clickhouse.writeAnalytics", attribute.Int("db.operation.batch.size", len(evs)),
		attribute.Bool("keyline.suspect", suspect))
	defer func() { endSpan(span, err) }()
	var ver, rl []events.AnalyticsEvent
	for _, e := range evs {
		switch {
		case e.Verification != nil:
			ver = append(ver, e)
		case e.Ratelimit != nil:
			rl = append(rl, e)
		}
	}
	if suspect {
		if ver, err = db.settle(ctx, verificationFamily, ver); err != nil {
			return 0, err
		}
		if rl, err = db.settle(ctx, ratelimitFamily, rl); err != nil {
			return 0, err
		}
	}
	if len(ver) > 0 {
		if err := db.insertVerifications(ctx, ver); err != nil {
			return 0, err
		}
	}
	if len(rl) > 0 {
		if err := db.insertRatelimits(ctx, rl); err != nil {
			// The verifications are in; a retry is suspect and skips them.
			return len(ver), err
		}
	}
	return len(ver) + len(rl), nil
}

// settle returns the events of evs that f's raw table does not hold yet,
// after completing the rollups of the batches that hold the others.
func (db *DB) settle(ctx context.Context, f rollupFamily, evs []events.AnalyticsEvent) ([]events.AnalyticsEvent, error) {
	if len(evs) == 0 {
		return evs, nil
	}
	ids := make([]any, len(evs))
	lo, hi := span(evs)
	for i, e := range evs {
		ids[i] = e.ID
	}
	// The time range lets the server prune partitions.
	seen, batches, err := db.stored(ctx, f.raw, lo, hi, ids)
	if err != nil {
		return nil, err
	}
	if err := db.repairRollups(ctx, f, batches); err != nil {
		return nil, err
	}
	out := evs[:0:0]
	for _, e := range evs {
		if !seen[e.ID] {
			seen[e.ID] = true // a batch may also repeat an entry
			out = append(out, e)
		}
	}
	return out, nil
}

// stored returns which of ids the raw table holds, and the batches they
// were inserted with. Records inserted before batches existed (an empty
// batch_id) name no batch: there is nothing to check for them.
func (db *DB) stored(ctx context.Context, raw string, lo, hi int64, ids []any) (map[string]bool, []string, error) {
	rows, err := db.Conn.Query(ctx, "SELECT event_id, batch_id FROM "+raw+
		" WHERE time >= ? AND time <= ? AND event_id IN ?", lo, hi, ch.GroupSet{Value: ids})
	if err != nil {
		return nil, nil, fmt.Errorf("clickhouse: dedup check on %s: %w", raw, err)
	}
	defer rows.Close()
	seen, batches := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var id, batch string
		if err := rows.Scan(&id, &batch); err != nil {
			return nil, nil, err
		}
		seen[id] = true
		if batch != "" {
			batches[batch] = true
		}
	}
	return seen, sortedKeys(batches), rows.Err()
}

// span is the range of the events' times.
func span(evs []events.AnalyticsEvent) (lo, hi int64) {
	lo, hi = evs[0].Time, evs[0].Time
	for _, e := range evs {
		lo, hi = min(lo, e.Time), max(hi, e.Time)
	}
	return lo, hi
}

func (db *DB) insertVerifications(ctx context.Context, evs []events.AnalyticsEvent) error {
	batchID := newBatchID(span(evs))
	batch, err := db.Conn.PrepareBatch(db.insertContext(ctx, batchID), `INSERT INTO key_verifications_raw_v1
		(event_id, request_id, time, workspace_id, key_space_id, key_id, identity_id, external_id,
		 region, outcome, tags, spent_credits, latency, batch_id)`)
	if err != nil {
		return fmt.Errorf("clickhouse: preparing verification batch: %w", err)
	}
	for _, e := range evs {
		v := e.Verification
		tags := v.Tags
		if tags == nil {
			tags = []string{}
		}
		if err := batch.Append(e.ID, e.RequestID, e.Time, e.WorkspaceID, v.KeySpaceID, v.KeyID, v.IdentityID,
			v.ExternalID, e.Region, v.Outcome, tags, v.SpentCredits, v.LatencyMs, batchID); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("clickhouse: appending verification %s: %w", e.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: inserting %d verifications: %w", len(evs), err)
	}
	return nil
}

func (db *DB) insertRatelimits(ctx context.Context, evs []events.AnalyticsEvent) error {
	batchID := newBatchID(span(evs))
	batch, err := db.Conn.PrepareBatch(db.insertContext(ctx, batchID), `INSERT INTO ratelimits_raw_v1
		(event_id, request_id, time, workspace_id, namespace_id, identifier, region, passed, latency, batch_id)`)
	if err != nil {
		return fmt.Errorf("clickhouse: preparing rate-limit batch: %w", err)
	}
	for _, e := range evs {
		r := e.Ratelimit
		var passed uint8
		if r.Passed {
			passed = 1
		}
		if err := batch.Append(e.ID, e.RequestID, e.Time, e.WorkspaceID, r.NamespaceID, r.Identifier, e.Region,
			passed, r.LatencyMs, batchID); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("clickhouse: appending rate-limit decision %s: %w", e.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: inserting %d rate-limit decisions: %w", len(evs), err)
	}
	return nil
}

// AuditRow is one management event as audit_log_v1 stores it.
type AuditRow struct {
	Position      int64
	EventID       string
	Name          string
	Version       uint32
	StreamID      string
	StreamVersion int64
	WorkspaceID   string
	ActorID       string
	RequestID     string
	OccurredAt    int64 // Unix ms
	Payload       string
}

// AuditRowOf converts a log event.
func AuditRowOf(r events.Recorded, eventID string) AuditRow {
	return AuditRow{Position: r.Position, EventID: eventID, Name: r.Name, Version: uint32(r.Version),
		StreamID: r.StreamID, StreamVersion: r.StreamVersion, WorkspaceID: r.Meta.WorkspaceID,
		ActorID: r.Meta.ActorID, RequestID: r.Meta.RequestID, OccurredAt: r.OccurredAt.UnixMilli(),
		Payload: string(r.Payload)}
}

// WriteAudit inserts audit rows. audit_log_v1 is a ReplacingMergeTree keyed
// by position and has no rollups, so a repeated row is harmless: it
// collapses on merge and readers use FINAL.
func (db *DB) WriteAudit(ctx context.Context, rows []AuditRow) (err error) {
	if len(rows) == 0 {
		return nil
	}
	ctx, span := db.startSpan(ctx, "clickhouse.writeAudit", attribute.Int("db.operation.batch.size", len(rows)))
	defer func() { endSpan(span, err) }()
	batch, err := db.Conn.PrepareBatch(db.insertContext(ctx, ""), `INSERT INTO audit_log_v1
		(position, event_id, name, version, stream_id, stream_version, workspace_id, actor_id, request_id,
		 occurred_at, payload)`)
	if err != nil {
		return fmt.Errorf("clickhouse: preparing audit batch: %w", err)
	}
	for _, r := range rows {
		if err := batch.Append(r.Position, r.EventID, r.Name, r.Version, r.StreamID, r.StreamVersion,
			r.WorkspaceID, r.ActorID, r.RequestID, r.OccurredAt, r.Payload); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("clickhouse: appending audit row %d: %w", r.Position, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: inserting %d audit rows: %w", len(rows), err)
	}
	return nil
}

// AuditHead is the highest log position in audit_log_v1: the audit
// projector's checkpoint. Keeping it in the table itself means the
// checkpoint and the rows can never disagree, and any node can take over.
func (db *DB) AuditHead(ctx context.Context) (int64, error) {
	var head int64
	if err := db.Conn.QueryRow(ctx, "SELECT max(position) FROM audit_log_v1").Scan(&head); err != nil {
		return 0, fmt.Errorf("clickhouse: reading the audit checkpoint: %w", err)
	}
	return head, nil
}

// TruncateAudit empties audit_log_v1 for a rebuild.
func (db *DB) TruncateAudit(ctx context.Context) error {
	if err := db.Conn.Exec(ctx, "TRUNCATE TABLE audit_log_v1"); err != nil {
		return fmt.Errorf("clickhouse: truncating audit_log_v1: %w", err)
	}
	return nil
}
