package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// PermissionRow is a permission slug of a workspace.
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
	c, ok := e.(events.PermissionCreated)
	if !ok {
		return nil
	}
	row := &PermissionRow{ID: c.PermissionID, WorkspaceID: c.WorkspaceID, Slug: c.Slug, Name: c.Name,
		Description: c.Description, CreatedAt: rec.OccurredAt.UnixMilli()}
	_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	return err
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
