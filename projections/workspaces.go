package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// WorkspaceRow is one tenant. DisabledAt is set while the workspace is
// disabled (workspace.disabled), nil while it works.
type WorkspaceRow struct {
	bun.BaseModel `bun:"table:workspaces"`
	ID            string `bun:"id,pk"`
	Name          string `bun:"name,notnull,unique"`
	CreatedAt     int64  `bun:"created_at,notnull"`
	DisabledAt    *int64 `bun:"disabled_at"`
}

// Enabled reports whether the workspace's keys and root keys work.
func (w WorkspaceRow) Enabled() bool { return w.DisabledAt == nil }

// Workspaces projects workspace events.
type Workspaces struct{}

func (Workspaces) Name() string     { return "workspaces" }
func (Workspaces) Version() int     { return 2 }
func (Workspaces) Tables() []string { return []string{"workspaces"} }

func (Workspaces) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*WorkspaceRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

func (Workspaces) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.WorkspaceCreated:
		row := &WorkspaceRow{ID: e.WorkspaceID, Name: e.Name, CreatedAt: rec.OccurredAt.UnixMilli()}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").Set("name = EXCLUDED.name").Exec(ctx)
		return err
	case events.WorkspaceDisabled:
		_, err := db.NewUpdate().Model((*WorkspaceRow)(nil)).Set("disabled_at = ?", rec.OccurredAt.UnixMilli()).
			Where("id = ?", e.WorkspaceID).Exec(ctx)
		return err
	case events.WorkspaceEnabled:
		_, err := db.NewUpdate().Model((*WorkspaceRow)(nil)).Set("disabled_at = NULL").
			Where("id = ?", e.WorkspaceID).Exec(ctx)
		return err
	}
	return nil
}

// Workspace returns a workspace by ID, enabled or not, or events.ErrNotFound.
// It reads the primary: its callers are the root-key and verification
// caches, which fill right after a workspace event invalidated them, when a
// replica may still show the old disabled_at and no miss would reveal it.
func (r *Reader) Workspace(ctx context.Context, id string) (WorkspaceRow, error) {
	var row WorkspaceRow
	err := r.Primary.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx)
	return row, notFound(err)
}

// NewBulk is the in-memory form of Handle for replay.
func (Workspaces) NewBulk() Bulk { return &workspacesBulk{rows: newRowSet[WorkspaceRow]()} }

type workspacesBulk struct{ rows *rowSet[WorkspaceRow] }

func (b *workspacesBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.WorkspaceCreated:
		if row := b.rows.get(e.WorkspaceID); row != nil {
			row.Name = e.Name
			return
		}
		b.rows.insert(e.WorkspaceID, &WorkspaceRow{ID: e.WorkspaceID, Name: e.Name, CreatedAt: rec.OccurredAt.UnixMilli()})
	case events.WorkspaceDisabled:
		if row := b.rows.get(e.WorkspaceID); row != nil {
			at := rec.OccurredAt.UnixMilli()
			row.DisabledAt = &at
		}
	case events.WorkspaceEnabled:
		if row := b.rows.get(e.WorkspaceID); row != nil {
			row.DisabledAt = nil
		}
	}
}

func (b *workspacesBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }
