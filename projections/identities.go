package projections

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// IdentityRow is an identity: the customer's entity (ExternalID) that keys
// can be linked to, with the rate limits its keys share.
type IdentityRow struct {
	bun.BaseModel `bun:"table:identities"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	ExternalID    string `bun:"external_id,notnull"`
	Meta          string `bun:"meta,notnull"`
	Ratelimits    string `bun:"ratelimits,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
	UpdatedAt     *int64 `bun:"updated_at"`
	DeletedAt     *int64 `bun:"deleted_at"`
}

// RatelimitList decodes the identity's rate-limit configs.
func (i IdentityRow) RatelimitList() []events.Ratelimit {
	var out []events.Ratelimit
	_ = json.Unmarshal([]byte(i.Ratelimits), &out)
	return out
}

// Identities projects identity events.
type Identities struct{}

func (Identities) Name() string { return "identities" }

// Version 2 added ratelimits and updated_at.
func (Identities) Version() int     { return 2 }
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
	at := rec.OccurredAt.UnixMilli()
	switch e := e.(type) {
	case events.IdentityCreated:
		row := &IdentityRow{ID: e.IdentityID, WorkspaceID: e.WorkspaceID, ExternalID: e.ExternalID, Meta: canonicalJSON(e.Meta),
			Ratelimits: ratelimitsJSON(e.Ratelimits), CreatedAt: at}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		return err
	case events.IdentityUpdated:
		q := db.NewUpdate().Model((*IdentityRow)(nil)).Set("updated_at = ?", at).Where("id = ?", e.IdentityID)
		if e.Meta != nil {
			q = q.Set("meta = ?", canonicalJSON(events.ValueOr0(e.Meta.Value)))
		}
		if e.Ratelimits != nil {
			q = q.Set("ratelimits = ?", ratelimitsJSON(*e.Ratelimits))
		}
		_, err := q.Exec(ctx)
		return err
	case events.IdentityDeleted:
		// As in Unkey, an older deleted identity of the same externalId goes
		// for good, so at most one deleted row per externalId remains.
		if _, err := db.NewDelete().Model((*IdentityRow)(nil)).
			Where("workspace_id = ? AND external_id = ? AND deleted_at IS NOT NULL AND id <> ?", e.WorkspaceID, e.ExternalID, e.IdentityID).
			Exec(ctx); err != nil {
			return err
		}
		_, err := db.NewUpdate().Model((*IdentityRow)(nil)).Set("deleted_at = ?", at).Where("id = ?", e.IdentityID).Exec(ctx)
		return err
	}
	return nil
}

// Identity returns a live identity by ID, or events.ErrNotFound. It is not
// scoped to a workspace: callers reach it only through a key of theirs.
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

// IdentityByRef returns the live identity of a workspace whose ID or
// externalId is ref; the ID wins when both would match.
func (r *Reader) IdentityByRef(ctx context.Context, workspaceID, ref string) (IdentityRow, error) {
	var rows []IdentityRow
	err := r.Primary.NewSelect().Model(&rows).
		Where("workspace_id = ? AND deleted_at IS NULL AND (id = ? OR external_id = ?)", workspaceID, ref, ref).Scan(ctx)
	if err != nil {
		return IdentityRow{}, err
	}
	for _, row := range rows {
		if row.ID == ref {
			return row, nil
		}
	}
	if len(rows) == 0 {
		return IdentityRow{}, events.ErrNotFound
	}
	return rows[0], nil
}

// ListIdentities returns up to limit+1 live identities of a workspace in ID
// order from cursor on, whose externalId or ID contains search (case
// insensitive; "%" and "_" are literal).
func (r *Reader) ListIdentities(ctx context.Context, workspaceID, cursor, search string, limit int) ([]IdentityRow, error) {
	var rows []IdentityRow
	q := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ? AND deleted_at IS NULL", workspaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	if pattern, ok := containsPattern(search); ok {
		q = q.Where("(LOWER(external_id) LIKE ? ESCAPE '\\' OR LOWER(id) LIKE ? ESCAPE '\\')", pattern, pattern)
	}
	err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx)
	return rows, err
}

// containsPattern turns a free-text search into a LIKE pattern for a
// case-insensitive substring match with "%", "_" and "\" taken literally.
// ok is false for a blank search, which filters nothing.
func containsPattern(search string) (string, bool) {
	if strings.TrimSpace(search) == "" {
		return "", false
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(search))
	return "%" + esc + "%", true
}

// NewBulk is the in-memory form of Handle for replay.
func (Identities) NewBulk() Bulk {
	return &identitiesBulk{rows: newRowSet[IdentityRow](), byExternal: map[string]map[string]struct{}{}}
}

type identitiesBulk struct {
	rows *rowSet[IdentityRow]
	// byExternal indexes rows by workspace and externalId, which
	// identity.deleted prunes by.
	byExternal map[string]map[string]struct{}
}

func (b *identitiesBulk) Fold(rec events.Recorded, e events.Event) {
	at := rec.OccurredAt.UnixMilli()
	switch e := e.(type) {
	case events.IdentityCreated:
		if b.rows.get(e.IdentityID) != nil {
			return
		}
		b.rows.insert(e.IdentityID, &IdentityRow{ID: e.IdentityID, WorkspaceID: e.WorkspaceID, ExternalID: e.ExternalID,
			Meta: canonicalJSON(e.Meta), Ratelimits: ratelimitsJSON(e.Ratelimits), CreatedAt: at})
		addTo(b.byExternal, e.WorkspaceID+"\x00"+e.ExternalID, e.IdentityID)
	case events.IdentityUpdated:
		if row := b.rows.get(e.IdentityID); row != nil {
			row.UpdatedAt = &at
			if e.Meta != nil {
				row.Meta = canonicalJSON(events.ValueOr0(e.Meta.Value))
			}
			if e.Ratelimits != nil {
				row.Ratelimits = ratelimitsJSON(*e.Ratelimits)
			}
		}
	case events.IdentityDeleted:
		ext := e.WorkspaceID + "\x00" + e.ExternalID
		for id := range b.byExternal[ext] {
			if row := b.rows.get(id); id != e.IdentityID && row != nil && row.DeletedAt != nil {
				b.rows.delete(id)
				delete(b.byExternal[ext], id)
			}
		}
		if row := b.rows.get(e.IdentityID); row != nil {
			row.DeletedAt = &at
		}
	}
}

func (b *identitiesBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }
