package projections

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RootKeyRow is a credential for the management API, found by its hash.
// RevokedAt is set once the key is revoked (root_key.revoked); the row stays
// so that `keyline rootkeys list` can show it, but it authenticates nothing.
type RootKeyRow struct {
	bun.BaseModel `bun:"table:root_keys"`
	ID            string   `bun:"id,pk"`
	WorkspaceID   string   `bun:"workspace_id,notnull"`
	Hash          string   `bun:"hash,notnull,unique"`
	Start         string   `bun:"start,notnull"`
	Name          string   `bun:"name,notnull"`
	Permissions   []string `bun:"permissions,type:text,notnull"`
	CreatedAt     int64    `bun:"created_at,notnull"`
	// Configured: the key bootstrap.rootKey names (or named).
	Configured bool   `bun:"configured,notnull"`
	RevokedAt  *int64 `bun:"revoked_at"`
}

// Revoked reports whether the key was revoked.
func (r RootKeyRow) Revoked() bool { return r.RevokedAt != nil }

// RootKeys projects root-key events.
type RootKeys struct{}

func (RootKeys) Name() string     { return "root_keys" }
func (RootKeys) Version() int     { return 2 }
func (RootKeys) Tables() []string { return []string{"root_keys"} }

func (RootKeys) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*RootKeyRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

func (RootKeys) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch c := e.(type) {
	case events.RootKeyCreated:
		row := newRootKeyRow(rec, c)
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
			Set("workspace_id = EXCLUDED.workspace_id, hash = EXCLUDED.hash, start = EXCLUDED.start, name = EXCLUDED.name, permissions = EXCLUDED.permissions, configured = EXCLUDED.configured").
			Exec(ctx)
		return err
	case events.RootKeyRevoked:
		_, err := db.NewUpdate().Model((*RootKeyRow)(nil)).Set("revoked_at = ?", rec.OccurredAt.UnixMilli()).
			Where("id = ?", c.RootKeyID).Exec(ctx)
		return err
	}
	return nil
}

func newRootKeyRow(rec events.Recorded, c events.RootKeyCreated) *RootKeyRow {
	perms := c.Permissions
	if perms == nil {
		perms = []string{}
	}
	return &RootKeyRow{ID: c.RootKeyID, WorkspaceID: c.WorkspaceID, Hash: c.Hash, Start: c.Start,
		Name: c.Name, Permissions: perms, CreatedAt: rec.OccurredAt.UnixMilli(), Configured: c.IsConfigured()}
}

// RootKeyByHash returns the root key whose hash is hash, revoked or not, or
// events.ErrNotFound. It reads the primary: the authenticator asks right
// after a root_key.revoked dropped its cache, when a replica may still show
// the key as live and no miss would reveal it.
func (r *Reader) RootKeyByHash(ctx context.Context, hash string) (RootKeyRow, error) {
	var row RootKeyRow
	err := r.Primary.NewSelect().Model(&row).Where("hash = ?", hash).Scan(ctx)
	return row, notFound(err)
}

// RootKeys lists the root keys of a workspace, revoked ones included, oldest
// first. It reads the primary: its callers are operator commands and the
// start-up check of bootstrap.rootKey, which act on what they read.
func (r *Reader) RootKeys(ctx context.Context, workspaceID string) ([]RootKeyRow, error) {
	var rows []RootKeyRow
	err := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ?", workspaceID).
		OrderExpr("created_at, id").Scan(ctx)
	return rows, err
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return events.ErrNotFound
	}
	return err
}

// NewBulk is the in-memory form of Handle for replay.
func (RootKeys) NewBulk() Bulk { return &rootKeysBulk{rows: newRowSet[RootKeyRow]()} }

type rootKeysBulk struct{ rows *rowSet[RootKeyRow] }

func (b *rootKeysBulk) Fold(rec events.Recorded, e events.Event) {
	switch c := e.(type) {
	case events.RootKeyCreated:
		row := newRootKeyRow(rec, c)
		if old := b.rows.get(c.RootKeyID); old != nil {
			// ON CONFLICT DO UPDATE keeps created_at and revoked_at.
			row.CreatedAt, row.RevokedAt = old.CreatedAt, old.RevokedAt
		}
		b.rows.rows[c.RootKeyID] = row
	case events.RootKeyRevoked:
		if row := b.rows.get(c.RootKeyID); row != nil {
			at := rec.OccurredAt.UnixMilli()
			row.RevokedAt = &at
		}
	}
}

func (b *rootKeysBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }
