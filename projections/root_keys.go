package projections

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RootKeyRow is a credential for the management API, found by its hash.
type RootKeyRow struct {
	bun.BaseModel `bun:"table:root_keys"`
	ID            string   `bun:"id,pk"`
	WorkspaceID   string   `bun:"workspace_id,notnull"`
	Hash          string   `bun:"hash,notnull,unique"`
	Start         string   `bun:"start,notnull"`
	Name          string   `bun:"name,notnull"`
	Permissions   []string `bun:"permissions,type:text,notnull"`
	CreatedAt     int64    `bun:"created_at,notnull"`
}

// RootKeys projects root-key events.
type RootKeys struct{}

func (RootKeys) Name() string     { return "root_keys" }
func (RootKeys) Version() int     { return 1 }
func (RootKeys) Tables() []string { return []string{"root_keys"} }

func (RootKeys) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*RootKeyRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

func (RootKeys) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	c, ok := e.(events.RootKeyCreated)
	if !ok {
		return nil
	}
	perms := c.Permissions
	if perms == nil {
		perms = []string{}
	}
	row := &RootKeyRow{ID: c.RootKeyID, WorkspaceID: c.WorkspaceID, Hash: c.Hash, Start: c.Start,
		Name: c.Name, Permissions: perms, CreatedAt: rec.OccurredAt.UnixMilli()}
	_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
		Set("workspace_id = EXCLUDED.workspace_id, hash = EXCLUDED.hash, start = EXCLUDED.start, name = EXCLUDED.name, permissions = EXCLUDED.permissions").
		Exec(ctx)
	return err
}

// RootKeyByHash returns the root key whose hash is hash, or events.ErrNotFound.
func (r *Reader) RootKeyByHash(ctx context.Context, hash string) (RootKeyRow, error) {
	var row RootKeyRow
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).Where("hash = ?", hash).Scan(ctx)
	})
	return row, notFound(err)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return events.ErrNotFound
	}
	return err
}
