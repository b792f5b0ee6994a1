package projections

import (
	"container/heap"
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// PortalSessionRow is a portal session: who it is for, what it may do, and
// the hashes of its exchange code and (once exchanged) access token. Codes
// and tokens themselves are never stored. Every lookup compares the absolute
// expiry with the clock, so a replay that rebuilds an expired row cannot
// revive it; rows dead for longer than PortalSessionKeep are pruned (see
// PortalSessions).
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
	// DeadAt is when the session stops being good for anything: the code's
	// expiry until it is exchanged, the token's after.
	DeadAt int64 `bun:"dead_at,notnull"`
}

// PortalSessionKeep is how long a dead session's row stays before a later
// session's creation prunes it. Pruning keys on the creating event's time,
// not the clock, so a replay prunes exactly what the live fold did; the
// margin (far above portal codes' 15 minutes) keeps a session whose exchange
// was decided on a node with a slow clock from being pruned before its
// exchange lands.
const PortalSessionKeep = 24 * time.Hour

// PortalSessions projects portal session events. Each creation also prunes
// the sessions dead for longer than PortalSessionKeep at its time, so the
// table holds the sessions of about a day plus the live ones, not every
// session ever created.
type PortalSessions struct{}

func (PortalSessions) Name() string { return "portal_sessions" }

// Version 2 added dead_at and the pruning.
func (PortalSessions) Version() int     { return 2 }
func (PortalSessions) Tables() []string { return []string{"portal_sessions"} }

func (PortalSessions) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*PortalSessionRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*PortalSessionRow)(nil)).Index("portal_sessions_dead_idx").IfNotExists().
		Column("dead_at").Exec(ctx)
	return err
}

func (PortalSessions) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.PortalSessionCreated:
		if _, err := db.NewInsert().Model(newPortalSessionRow(rec, e)).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		_, err := db.NewDelete().Model((*PortalSessionRow)(nil)).Where("dead_at < ?", pruneBefore(rec)).Exec(ctx)
		return err
	case events.PortalSessionExchanged:
		_, err := db.NewUpdate().Model((*PortalSessionRow)(nil)).
			Set("token_hash = ?, token_expires_at = ?, dead_at = ?", e.TokenHash, e.ExpiresAt, e.ExpiresAt).
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
		CodeHash: e.CodeHash, CodeExpiresAt: e.CodeExpiresAt, CreatedAt: rec.OccurredAt.UnixMilli(), DeadAt: e.CodeExpiresAt}
}

// pruneBefore is the dead_at below which a creation at rec prunes a row.
func pruneBefore(rec events.Recorded) int64 {
	return rec.OccurredAt.UnixMilli() - PortalSessionKeep.Milliseconds()
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

// portalSessionsBulk prunes as Handle does, finding the dead rows through a
// heap of (dead_at, id) instead of an index: an exchange pushes the row's
// new dead_at, and an entry whose row has moved on (or is gone) is skipped
// when it surfaces.
type portalSessionsBulk struct {
	rows *rowSet[PortalSessionRow]
	dead deadHeap
}

type deadEntry struct {
	at int64
	id string
}

type deadHeap []deadEntry

func (h deadHeap) Len() int           { return len(h) }
func (h deadHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadHeap) Push(x any)        { *h = append(*h, x.(deadEntry)) }
func (h *deadHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (b *portalSessionsBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.PortalSessionCreated:
		if b.rows.get(e.SessionID) == nil {
			row := newPortalSessionRow(rec, e)
			b.rows.insert(e.SessionID, row)
			heap.Push(&b.dead, deadEntry{row.DeadAt, row.ID})
		}
		cut := pruneBefore(rec)
		for b.dead.Len() > 0 && b.dead[0].at < cut {
			d := heap.Pop(&b.dead).(deadEntry)
			if row := b.rows.get(d.id); row != nil && row.DeadAt == d.at {
				b.rows.delete(d.id)
			}
		}
	case events.PortalSessionExchanged:
		if row := b.rows.get(e.SessionID); row != nil {
			hash, expires := e.TokenHash, e.ExpiresAt
			row.TokenHash, row.TokenExpiresAt, row.DeadAt = &hash, &expires, expires
			heap.Push(&b.dead, deadEntry{row.DeadAt, row.ID})
		}
	}
}

func (b *portalSessionsBulk) Write(ctx context.Context, db bun.IDB) error {
	return b.rows.write(ctx, db)
}
