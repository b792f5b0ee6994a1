package clickhouse

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/keyline/keyline/events"
)

// AuditReader pages through audit_log_v1 for the console. A nil DB means
// ClickHouse is not configured: the audit projector does not run then and
// there is nothing to read.
type AuditReader struct{ db *DB }

// NewAuditReader reads through db, which may be nil.
func NewAuditReader(db *DB) *AuditReader { return &AuditReader{db: db} }

// AuditConfigured reports whether there is an audit log to read.
func (r *AuditReader) AuditConfigured() bool { return r != nil && r.db != nil }

// AuditLog returns up to limit events of the workspace, newest first,
// from position before on (inclusive; 0 is the newest). The rows carry
// the log's own fields, so they come back as the events they were.
func (r *AuditReader) AuditLog(ctx context.Context, workspaceID string, before int64, limit int) (recs []events.Recorded, err error) {
	if !r.AuditConfigured() {
		return nil, fmt.Errorf("clickhouse: reading the audit log: clickhouse is not configured")
	}
	ctx, span := r.db.startSpan(ctx, "clickhouse.readAudit", attribute.Int("db.query.limit", limit))
	defer func() { endSpan(span, err) }()
	// FINAL: a position the projector inserted twice is one row.
	query := `SELECT position, stream_id, stream_version, name, version, actor_id, request_id, occurred_at, payload
		FROM audit_log_v1 FINAL WHERE workspace_id = ?`
	args := []any{workspaceID}
	if before > 0 {
		query += " AND position <= ?"
		args = append(args, before)
	}
	query += " ORDER BY position DESC LIMIT ?"
	args = append(args, limit)
	rows, err := r.db.Conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rec        events.Recorded
			version    uint32
			occurredAt int64
			payload    string
		)
		if err := rows.Scan(&rec.Position, &rec.StreamID, &rec.StreamVersion, &rec.Name, &version,
			&rec.Meta.ActorID, &rec.Meta.RequestID, &occurredAt, &payload); err != nil {
			return nil, fmt.Errorf("clickhouse: scanning an audit row: %w", err)
		}
		rec.Version, rec.Meta.WorkspaceID = int(version), workspaceID
		rec.OccurredAt, rec.Payload = time.UnixMilli(occurredAt).UTC(), []byte(payload)
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: reading the audit log: %w", err)
	}
	return recs, nil
}
