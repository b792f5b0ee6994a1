package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// IdentityRow is an identity: the customer's entity (ExternalID) that keys
// can be linked to. The identities.* endpoints (another issue) extend it.
type IdentityRow struct {
	bun.BaseModel `bun:"table:identities"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	ExternalID    string `bun:"external_id,notnull"`
	Meta          string `bun:"meta,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
	DeletedAt     *int64 `bun:"deleted_at"`
}

// Identities projects identity events.
type Identities struct{}

func (Identities) Name() string     { return "identities" }
func (Identities) Version() int     { return 1 }
func (Identities) Tables() []string { return []string{"identities"} }

func (Identities) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*IdentityRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*IdentityRow)(nil)).Index("identities_external_idx").IfNotExists().
		Column("workspace_id", "external_id").Exec(ctx)
	return err
}

func (Identities) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	c, ok := e.(events.IdentityCreated)
	if !ok {
		return nil
	}
	row := &IdentityRow{ID: c.IdentityID, WorkspaceID: c.WorkspaceID, ExternalID: c.ExternalID, Meta: canonicalJSON(c.Meta),
		CreatedAt: rec.OccurredAt.UnixMilli()}
	_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	return err
}

// Identity returns a live identity by ID, or events.ErrNotFound.
func (r *Reader) Identity(ctx context.Context, id string) (IdentityRow, error) {
	var row IdentityRow
	err := r.Primary.NewSelect().Model(&row).Where("id = ? AND deleted_at IS NULL", id).Scan(ctx)
	return row, notFound(err)
}

// IdentityByExternalID returns the live identity of externalID in a workspace.
func (r *Reader) IdentityByExternalID(ctx context.Context, workspaceID, externalID string) (IdentityRow, error) {
	var row IdentityRow
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).Where("workspace_id = ? AND external_id = ? AND deleted_at IS NULL", workspaceID, externalID).Scan(ctx)
	})
	return row, notFound(err)
}
