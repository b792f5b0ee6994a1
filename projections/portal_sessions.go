package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// PortalSessionRow is a portal session: who it is for, what it may do, and
// the hashes of its exchange code and (once exchanged) access token. Codes
// and tokens themselves are never stored. Expired rows stay; every lookup
// compares the absolute expiry with the clock, so a replay that rebuilds
// them cannot revive one.
type PortalSessionRow struct {
	bun.BaseModel  `bun:"table:portal_sessions"`
	ID             string   `bun:"id,pk"`
	PortalID       string   `bun:"portal_id,notnull"`
	WorkspaceID    string   `bun:"workspace_id,notnull"`
	ExternalID     string   `bun:"external_id,notnull"`
	Scopes         []string `bun:"scopes,type:text,notnull"`
	Permissions    []string `bun:"permissions,type:text,notnull"`
	Preview        bool     `bun:"preview,notnull"`
	ReturnURL      string   `bun:"return_url,notnull"`
	RootKeyID      string   `bun:"root_key_id,notnull"`
	CodeHash       string   `bun:"code_hash,notnull,unique"`
	CodeExpiresAt  int64    `bun:"code_expires_at,notnull"`
	TokenHash      *string  `bun:"token_hash,unique"`
	TokenExpiresAt *int64   `bun:"token_expires_at"`
	CreatedAt      int64    `bun:"created_at,notnull"`
}

// PortalSessions projects portal session events.
type PortalSessions struct{}

func (PortalSessions) Name() string     { return "portal_sessions" }
func (PortalSessions) Version() int     { return 1 }
func (PortalSessions) Tables() []string { return []string{"portal_sessions"} }

func (PortalSessions) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*PortalSessionRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

func (PortalSessions) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.PortalSessionCreated:
		_, err := db.NewInsert().Model(newPortalSessionRow(rec, e)).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		return err
	case events.PortalSessionExchanged:
		_, err := db.NewUpdate().Model((*PortalSessionRow)(nil)).
			Set("token_hash = ?, token_expires_at = ?", e.TokenHash, e.ExpiresAt).
			Where("id = ?", e.SessionID).Exec(ctx)
		return err
	}
	return nil
}

func newPortalSessionRow(rec events.Recorded, e events.PortalSessionCreated) *PortalSessionRow {
	perms := e.Permissions
	if perms == nil {
		perms = []string{}
	}
	return &PortalSessionRow{ID: e.SessionID, PortalID: e.PortalID, WorkspaceID: e.WorkspaceID, ExternalID: e.ExternalID,
		Scopes: e.Scopes, Permissions: perms, Preview: e.Preview, ReturnURL: e.ReturnURL, RootKeyID: e.RootKeyID,
		CodeHash: e.CodeHash, CodeExpiresAt: e.CodeExpiresAt, CreatedAt: rec.OccurredAt.UnixMilli()}
}

// PortalSessionByCode returns the session whose exchange code hashes to
// hash, exchanged or not, or events.ErrNotFound. Primary only: a code
// redeemed a moment ago must not look fresh on a replica.
func (r *Reader) PortalSessionByCode(ctx context.Context, hash string) (PortalSessionRow, error) {
	var row PortalSessionRow
	err := r.Primary.NewSelect().Model(&row).Where("code_hash = ?", hash).Scan(ctx)
	return row, notFound(err)
}

// PortalSessionByToken returns the session whose access token hashes to
// hash, or events.ErrNotFound; the caller checks its expiry. Primary only,
// for the same reason as PortalSessionByCode: a token exchanged a moment
// ago must work on its very next request.
func (r *Reader) PortalSessionByToken(ctx context.Context, hash string) (PortalSessionRow, error) {
	var row PortalSessionRow
	err := r.Primary.NewSelect().Model(&row).Where("token_hash = ?", hash).Scan(ctx)
	return row, notFound(err)
}

// RootKeyByID returns a root key by ID, revoked or not, or
// events.ErrNotFound: a portal session lives only as long as the root key
// that minted it.
func (r *Reader) RootKeyByID(ctx context.Context, id string) (RootKeyRow, error) {
	var row RootKeyRow
	err := r.Primary.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx)
	return row, notFound(err)
}

// NewBulk is the in-memory form of Handle for replay.
func (PortalSessions) NewBulk() Bulk { return &portalSessionsBulk{rows: newRowSet[PortalSessionRow]()} }

type portalSessionsBulk struct{ rows *rowSet[PortalSessionRow] }

func (b *portalSessionsBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.PortalSessionCreated:
		b.rows.insert(e.SessionID, newPortalSessionRow(rec, e))
	case events.PortalSessionExchanged:
		if row := b.rows.get(e.SessionID); row != nil {
			hash, expires := e.TokenHash, e.ExpiresAt
			row.TokenHash, row.TokenExpiresAt = &hash, &expires
		}
	}
}

func (b *portalSessionsBulk) Write(ctx context.Context, db bun.IDB) error {
	return b.rows.write(ctx, db)
}
