package projections

import (
	"context"
	"strings"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// APIRow is an API (keyspace). Deleted APIs keep their row with DeletedAt
// set, as the soft delete keeps their keys in place. IPAllowlist is the
// comma-separated list of addresses verifyKey accepts for its keys, as
// Unkey stores ip_whitelist; "" means no restriction.
type APIRow struct {
	bun.BaseModel    `bun:"table:apis"`
	ID               string `bun:"id,pk"`
	WorkspaceID      string `bun:"workspace_id,notnull"`
	KeySpaceID       string `bun:"key_space_id,notnull"`
	Name             string `bun:"name,notnull"`
	DeleteProtection bool   `bun:"delete_protection,notnull"`
	IPAllowlist      string `bun:"ip_allowlist,notnull"`
	CreatedAt        int64  `bun:"created_at,notnull"`
	DeletedAt        *int64 `bun:"deleted_at"`
}

// APIs projects API events.
type APIs struct{}

func (APIs) Name() string     { return "apis" }
func (APIs) Version() int     { return 2 }
func (APIs) Tables() []string { return []string{"apis"} }

func (APIs) Setup(ctx context.Context, db bun.IDB) error {
	if _, err := db.NewCreateTable().Model((*APIRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewCreateIndex().Model((*APIRow)(nil)).Index("apis_workspace_idx").IfNotExists().
		Column("workspace_id", "id").Exec(ctx)
	return err
}

func (APIs) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.APICreated:
		row := &APIRow{ID: e.APIID, WorkspaceID: e.WorkspaceID, KeySpaceID: e.KeySpaceID, Name: e.Name,
			CreatedAt: rec.OccurredAt.UnixMilli()}
		_, err := db.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").
			Set("workspace_id = EXCLUDED.workspace_id, key_space_id = EXCLUDED.key_space_id, name = EXCLUDED.name").
			Exec(ctx)
		return err
	case events.APIDeleteProtectionChanged:
		_, err := db.NewUpdate().Model((*APIRow)(nil)).Set("delete_protection = ?", e.Enabled).
			Where("id = ?", e.APIID).Exec(ctx)
		return err
	case events.APIIPAllowlistSet:
		_, err := db.NewUpdate().Model((*APIRow)(nil)).Set("ip_allowlist = ?", strings.Join(e.IPs, ",")).
			Where("id = ?", e.APIID).Exec(ctx)
		return err
	case events.APIDeleted:
		_, err := db.NewUpdate().Model((*APIRow)(nil)).Set("deleted_at = ?", rec.OccurredAt.UnixMilli()).
			Where("id = ?", e.APIID).Exec(ctx)
		return err
	}
	return nil
}

// API returns a live API of workspaceID, or events.ErrNotFound for a missing,
// deleted or foreign one: another workspace's API must look absent.
func (r *Reader) API(ctx context.Context, workspaceID, apiID string) (APIRow, error) {
	var row APIRow
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).
			Where("id = ? AND workspace_id = ? AND deleted_at IS NULL", apiID, workspaceID).Scan(ctx)
	})
	return row, notFound(err)
}

// APIForCache is API read from the primary alone, for the verification
// cache: it fills right after an api.* event invalidated it, when a replica
// may still show the row as it was (live, or with the old allow-list), and a
// changed row is no miss to fall back on.
func (r *Reader) APIForCache(ctx context.Context, workspaceID, apiID string) (APIRow, error) {
	var row APIRow
	err := r.Primary.NewSelect().Model(&row).
		Where("id = ? AND workspace_id = ? AND deleted_at IS NULL", apiID, workspaceID).Scan(ctx)
	return row, notFound(err)
}

// IPs returns the allow-list, or nil when the API accepts every address.
func (a APIRow) IPs() []string {
	if a.IPAllowlist == "" {
		return nil
	}
	return strings.Split(a.IPAllowlist, ",")
}

// ListAPIs returns up to limit+1 live APIs of workspaceID in ID order from
// cursor on (inclusive: the cursor is the first ID of the next page).
func (r *Reader) ListAPIs(ctx context.Context, workspaceID, cursor string, limit int) ([]APIRow, error) {
	var rows []APIRow
	q := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ? AND deleted_at IS NULL", workspaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx)
	return rows, err
}
