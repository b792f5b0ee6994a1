package projections

import (
	"context"
	"errors"
	"strings"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RatelimitNamespaceRow is a rate-limit namespace. Deleted namespaces keep
// their row with DeletedAt set: ratelimit.limit must tell "gone" (410) from
// "never existed" (auto-create).
type RatelimitNamespaceRow struct {
	bun.BaseModel `bun:"table:ratelimit_namespaces"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	Name          string `bun:"name,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
	DeletedAt     *int64 `bun:"deleted_at"`
}

// RatelimitNamespaces projects namespace events.
type RatelimitNamespaces struct{}

func (RatelimitNamespaces) Name() string     { return "ratelimit_namespaces" }
func (RatelimitNamespaces) Version() int     { return 1 }
func (RatelimitNamespaces) Tables() []string { return []string{"ratelimit_namespaces"} }

func (RatelimitNamespaces) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*RatelimitNamespaceRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*RatelimitNamespaceRow)(nil)).Index("ratelimit_namespaces_name_idx").
		IfNotExists().Column("workspace_id", "name").Exec(ctx)
	return err
}

func (RatelimitNamespaces) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.RatelimitNamespaceCreated:
		row := &RatelimitNamespaceRow{ID: e.NamespaceID, WorkspaceID: e.WorkspaceID, Name: e.Name,
			CreatedAt: rec.OccurredAt.UnixMilli()}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
			Set("workspace_id = EXCLUDED.workspace_id, name = EXCLUDED.name").Exec(ctx)
		return err
	case events.RatelimitNamespaceDeleted:
		_, err := db.NewUpdate().Model((*RatelimitNamespaceRow)(nil)).Set("deleted_at = ?", rec.OccurredAt.UnixMilli()).
			Where("id = ?", e.NamespaceID).Exec(ctx)
		return err
	}
	return nil
}

// RatelimitNamespace finds a namespace of workspaceID by ID or by name, as
// every ratelimit endpoint accepts either; an ID wins over a namespace that
// happens to be named like one. Deleted namespaces are returned too (the
// caller decides between 404 and 410); another workspace's are not.
func (r *Reader) RatelimitNamespace(ctx context.Context, workspaceID, ref string) (RatelimitNamespaceRow, error) {
	var row RatelimitNamespaceRow
	if strings.HasPrefix(ref, "rlns_") {
		err := r.one(ctx, func(db bun.IDB) error {
			return db.NewSelect().Model(&row).Where("id = ? AND workspace_id = ?", ref, workspaceID).Scan(ctx)
		})
		if err = notFound(err); !errors.Is(err, events.ErrNotFound) {
			return row, err
		}
	}
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).Where("workspace_id = ? AND name = ?", workspaceID, ref).
			OrderExpr("created_at").Limit(1).Scan(ctx)
	})
	return row, notFound(err)
}

// ListRatelimitNamespaces returns up to limit+1 live namespaces of
// workspaceID in ID order from cursor on (inclusive).
func (r *Reader) ListRatelimitNamespaces(ctx context.Context, workspaceID, cursor string, limit int) ([]RatelimitNamespaceRow, error) {
	var rows []RatelimitNamespaceRow
	q := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ? AND deleted_at IS NULL", workspaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx)
	return rows, err
}
