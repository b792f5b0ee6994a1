package projections

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// PortalRow is a customer portal. A deleted portal keeps its row with
// DeletedAt set, so that `keyline portals list` and the audit trail can
// still name it; nothing serves it any more.
type PortalRow struct {
	bun.BaseModel `bun:"table:portals"`
	ID            string   `bun:"id,pk"`
	WorkspaceID   string   `bun:"workspace_id,notnull"`
	Name          string   `bun:"name,notnull"`
	APIIDs        []string `bun:"api_ids,type:text,notnull"`
	KeySpaceIDs   []string `bun:"key_space_ids,type:text,notnull"`
	ReturnURL     string   `bun:"return_url,notnull"`
	CreatedAt     int64    `bun:"created_at,notnull"`
	DeletedAt     *int64   `bun:"deleted_at"`
}

// Portals projects portal events.
type Portals struct{}

func (Portals) Name() string     { return "portals" }
func (Portals) Version() int     { return 1 }
func (Portals) Tables() []string { return []string{"portals"} }

func (Portals) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*PortalRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*PortalRow)(nil)).Index("portals_workspace_idx").IfNotExists().
		Column("workspace_id", "id").Exec(ctx)
	return err
}

func (Portals) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.PortalCreated:
		row := &PortalRow{ID: e.PortalID, WorkspaceID: e.WorkspaceID, Name: e.Name, APIIDs: e.APIIDs,
			KeySpaceIDs: e.KeySpaceIDs, ReturnURL: e.ReturnURL, CreatedAt: rec.OccurredAt.UnixMilli()}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
			Set("workspace_id = EXCLUDED.workspace_id, name = EXCLUDED.name, api_ids = EXCLUDED.api_ids, key_space_ids = EXCLUDED.key_space_ids, return_url = EXCLUDED.return_url").
			Exec(ctx)
		return err
	case events.PortalDeleted:
		_, err := db.NewUpdate().Model((*PortalRow)(nil)).Set("deleted_at = ?", rec.OccurredAt.UnixMilli()).
			Where("id = ?", e.PortalID).Exec(ctx)
		return err
	}
	return nil
}

// Portal returns a live portal of workspaceID, or events.ErrNotFound for a
// missing, deleted or foreign one. It reads the primary: a session must
// stop working at once when its portal is deleted, which a lagging
// replica would hide.
func (r *Reader) Portal(ctx context.Context, workspaceID, portalID string) (PortalRow, error) {
	var row PortalRow
	err := r.Primary.NewSelect().Model(&row).
		Where("id = ? AND workspace_id = ? AND deleted_at IS NULL", portalID, workspaceID).Scan(ctx)
	return row, notFound(err)
}

// Portals lists the portals of a workspace, deleted ones included, oldest
// first, for the operator's `keyline portals list`.
func (r *Reader) Portals(ctx context.Context, workspaceID string) ([]PortalRow, error) {
	var rows []PortalRow
	err := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ?", workspaceID).
		OrderExpr("created_at, id").Scan(ctx)
	return rows, err
}

// KeysOfOwner is one page of the live keys of identityID within apiIDs, in
// ID order, with one extra row fetched to learn whether there is more: the
// portal's view of an end user's keys. It reads the primary, so a key just
// rerolled shows at once.
func (r *Reader) KeysOfOwner(ctx context.Context, apiIDs []string, identityID, cursor string, limit int) ([]KeyRow, error) {
	var rows []KeyRow
	q := r.Primary.NewSelect().Model(&rows).
		Where("api_id IN (?) AND identity_id = ? AND deleted_at IS NULL", bun.In(apiIDs), identityID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	if err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing keys of an owner: %w", err)
	}
	return rows, nil
}

// NewBulk is the in-memory form of Handle for replay.
func (Portals) NewBulk() Bulk { return &portalsBulk{rows: newRowSet[PortalRow]()} }

type portalsBulk struct{ rows *rowSet[PortalRow] }

func (b *portalsBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.PortalCreated:
		if row := b.rows.get(e.PortalID); row != nil {
			row.WorkspaceID, row.Name, row.APIIDs, row.KeySpaceIDs, row.ReturnURL =
				e.WorkspaceID, e.Name, e.APIIDs, e.KeySpaceIDs, e.ReturnURL
			return
		}
		b.rows.insert(e.PortalID, &PortalRow{ID: e.PortalID, WorkspaceID: e.WorkspaceID, Name: e.Name, APIIDs: e.APIIDs,
			KeySpaceIDs: e.KeySpaceIDs, ReturnURL: e.ReturnURL, CreatedAt: rec.OccurredAt.UnixMilli()})
	case events.PortalDeleted:
		if row := b.rows.get(e.PortalID); row != nil {
			at := rec.OccurredAt.UnixMilli()
			row.DeletedAt = &at
		}
	}
}

func (b *portalsBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }
