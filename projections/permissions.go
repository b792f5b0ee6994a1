package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// PermissionRow is a permission slug of a workspace. Deleted permissions
// are removed, as Unkey removes them.
type PermissionRow struct {
	bun.BaseModel `bun:"table:permissions"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	Slug          string `bun:"slug,notnull"`
	Name          string `bun:"name,notnull"`
	Description   string `bun:"description,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
}

// Permissions projects permission events.
type Permissions struct{}

func (Permissions) Name() string     { return "permissions" }
func (Permissions) Version() int     { return 1 }
func (Permissions) Tables() []string { return []string{"permissions"} }

func (Permissions) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*PermissionRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*PermissionRow)(nil)).Index("permissions_slug_idx").IfNotExists().
		Column("workspace_id", "slug").Exec(ctx)
	return err
}

func (Permissions) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.PermissionCreated:
		row := &PermissionRow{ID: e.PermissionID, WorkspaceID: e.WorkspaceID, Slug: e.Slug, Name: e.Name,
			Description: e.Description, CreatedAt: rec.OccurredAt.UnixMilli()}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		return err
	case events.PermissionDeleted:
		_, err := db.NewDelete().Model((*PermissionRow)(nil)).Where("id = ?", e.PermissionID).Exec(ctx)
		return err
	}
	return nil
}

// PermissionsByRef returns the workspace's permissions whose slug or ID is in refs.
func (r *Reader) PermissionsByRef(ctx context.Context, workspaceID string, refs []string) ([]PermissionRow, error) {
	var rows []PermissionRow
	if len(refs) == 0 {
		return rows, nil
	}
	err := r.Primary.NewSelect().Model(&rows).
		Where("workspace_id = ? AND (slug IN (?) OR id IN (?))", workspaceID, bun.In(refs), bun.In(refs)).Scan(ctx)
	return rows, err
}

// PermissionByRef returns the workspace's permission whose ID or slug is
// ref (the ID wins), or events.ErrNotFound.
func (r *Reader) PermissionByRef(ctx context.Context, workspaceID, ref string) (PermissionRow, error) {
	rows, err := r.PermissionsByRef(ctx, workspaceID, []string{ref})
	if err != nil {
		return PermissionRow{}, err
	}
	for _, row := range rows {
		if row.ID == ref {
			return row, nil
		}
	}
	if len(rows) == 0 {
		return PermissionRow{}, events.ErrNotFound
	}
	return rows[0], nil
}

// ListPermissions returns up to limit+1 permissions of a workspace in ID
// order from cursor on, whose name, slug, ID or description contains search.
func (r *Reader) ListPermissions(ctx context.Context, workspaceID, cursor, search string, limit int) ([]PermissionRow, error) {
	var rows []PermissionRow
	q := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ?", workspaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	if pattern, ok := containsPattern(search); ok {
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(slug) LIKE ? ESCAPE '\\' OR LOWER(id) LIKE ? ESCAPE '\\' OR LOWER(description) LIKE ? ESCAPE '\\')",
			pattern, pattern, pattern, pattern)
	}
	err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx)
	return rows, err
}

// NewBulk is the in-memory form of Handle for replay.
func (Permissions) NewBulk() Bulk { return &permissionsBulk{rows: newRowSet[PermissionRow]()} }

type permissionsBulk struct{ rows *rowSet[PermissionRow] }

func (b *permissionsBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.PermissionCreated:
		b.rows.insert(e.PermissionID, &PermissionRow{ID: e.PermissionID, WorkspaceID: e.WorkspaceID, Slug: e.Slug, Name: e.Name,
			Description: e.Description, CreatedAt: rec.OccurredAt.UnixMilli()})
	case events.PermissionDeleted:
		b.rows.delete(e.PermissionID)
	}
}

func (b *permissionsBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }
