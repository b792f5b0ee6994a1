package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// WorkspaceRow is one tenant.
type WorkspaceRow struct {
	bun.BaseModel `bun:"table:workspaces"`
	ID            string `bun:"id,pk"`
	Name          string `bun:"name,notnull,unique"`
	CreatedAt     int64  `bun:"created_at,notnull"`
}

// Workspaces projects workspace events.
type Workspaces struct{}

func (Workspaces) Name() string     { return "workspaces" }
func (Workspaces) Version() int     { return 1 }
func (Workspaces) Tables() []string { return []string{"workspaces"} }

func (Workspaces) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*WorkspaceRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

func (Workspaces) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	c, ok := e.(events.WorkspaceCreated)
	if !ok {
		return nil
	}
	row := &WorkspaceRow{ID: c.WorkspaceID, Name: c.Name, CreatedAt: rec.OccurredAt.UnixMilli()}
	_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").Set("name = EXCLUDED.name").Exec(ctx)
	return err
}

// Workspace returns a workspace by ID, or events.ErrNotFound.
func (r *Reader) Workspace(ctx context.Context, id string) (WorkspaceRow, error) {
	var row WorkspaceRow
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx)
	})
	return row, notFound(err)
}
