package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RatelimitOverrideRow is a per-identifier limit in a namespace. Deleted
// overrides keep their row with DeletedAt set, as Unkey soft-deletes them.
type RatelimitOverrideRow struct {
	bun.BaseModel `bun:"table:ratelimit_overrides"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	NamespaceID   string `bun:"namespace_id,notnull"`
	Identifier    string `bun:"identifier,notnull"`
	Limit         int64  `bun:"limit_value,notnull"`
	DurationMs    int64  `bun:"duration_ms,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
	UpdatedAt     int64  `bun:"updated_at,notnull"`
	DeletedAt     *int64 `bun:"deleted_at"`
}

// RatelimitOverrides projects override events.
type RatelimitOverrides struct{}

func (RatelimitOverrides) Name() string     { return "ratelimit_overrides" }
func (RatelimitOverrides) Version() int     { return 1 }
func (RatelimitOverrides) Tables() []string { return []string{"ratelimit_overrides"} }

func (RatelimitOverrides) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*RatelimitOverrideRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*RatelimitOverrideRow)(nil)).Index("ratelimit_overrides_namespace_idx").
		IfNotExists().Column("namespace_id", "id").Exec(ctx)
	return err
}

func (RatelimitOverrides) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	at := rec.OccurredAt.UnixMilli()
	switch e := e.(type) {
	case events.RatelimitOverrideSet:
		row := &RatelimitOverrideRow{ID: e.OverrideID, WorkspaceID: e.WorkspaceID, NamespaceID: e.NamespaceID,
			Identifier: e.Identifier, Limit: e.Limit, DurationMs: e.DurationMs, CreatedAt: at, UpdatedAt: at}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
			Set("limit_value = EXCLUDED.limit_value, duration_ms = EXCLUDED.duration_ms, updated_at = EXCLUDED.updated_at, deleted_at = NULL").
			Exec(ctx)
		return err
	case events.RatelimitOverrideDeleted:
		_, err := db.NewUpdate().Model((*RatelimitOverrideRow)(nil)).Set("deleted_at = ?", at).
			Where("id = ?", e.OverrideID).Exec(ctx)
		return err
	}
	return nil
}

// RatelimitOverrides returns every live override of a namespace, from the
// primary: the result fills node-local caches, and a lagging replica would
// leave a stale copy there until the next change.
func (r *Reader) RatelimitOverrides(ctx context.Context, namespaceID string) ([]RatelimitOverrideRow, error) {
	var rows []RatelimitOverrideRow
	err := r.Primary.NewSelect().Model(&rows).Where("namespace_id = ? AND deleted_at IS NULL", namespaceID).
		Order("id").Scan(ctx)
	return rows, err
}

// ListRatelimitOverrides returns up to limit live overrides of a namespace
// with an ID at or after cursor, in ID order (Unkey's cursor is the ID of the
// first row of the next page).
func (r *Reader) ListRatelimitOverrides(ctx context.Context, namespaceID, cursor string, limit int) ([]RatelimitOverrideRow, error) {
	var rows []RatelimitOverrideRow
	q := r.Primary.NewSelect().Model(&rows).Where("namespace_id = ? AND deleted_at IS NULL", namespaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	err := q.Order("id").Limit(int64(limit)).Scan(ctx)
	return rows, err
}

// NewBulk is the in-memory form of Handle for replay.
func (RatelimitOverrides) NewBulk() Bulk {
	return &ratelimitOverridesBulk{rows: newRowSet[RatelimitOverrideRow]()}
}

type ratelimitOverridesBulk struct{ rows *rowSet[RatelimitOverrideRow] }

func (b *ratelimitOverridesBulk) Fold(rec events.Recorded, e events.Event) {
	at := rec.OccurredAt.UnixMilli()
	switch e := e.(type) {
	case events.RatelimitOverrideSet:
		if row := b.rows.get(e.OverrideID); row != nil {
			row.Limit, row.DurationMs, row.UpdatedAt, row.DeletedAt = e.Limit, e.DurationMs, at, nil
			return
		}
		b.rows.insert(e.OverrideID, &RatelimitOverrideRow{ID: e.OverrideID, WorkspaceID: e.WorkspaceID, NamespaceID: e.NamespaceID,
			Identifier: e.Identifier, Limit: e.Limit, DurationMs: e.DurationMs, CreatedAt: at, UpdatedAt: at})
	case events.RatelimitOverrideDeleted:
		if row := b.rows.get(e.OverrideID); row != nil {
			row.DeletedAt = &at
		}
	}
}

func (b *ratelimitOverridesBulk) Write(ctx context.Context, db bun.IDB) error {
	return b.rows.write(ctx, db)
}
