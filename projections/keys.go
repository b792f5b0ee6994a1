package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// KeyRow is a key as the management API and the verifier read it. The
// credit balance lives in key_credits (projection key_credits), because
// verifications change it far more often than anything here.
type KeyRow struct {
	bun.BaseModel      `bun:"table:keys"`
	ID                 string `bun:"id,pk"`
	WorkspaceID        string `bun:"workspace_id,notnull"`
	APIID              string `bun:"api_id,notnull"`
	KeySpaceID         string `bun:"key_space_id,notnull"`
	Hash               string `bun:"hash,notnull,unique"`
	Start              string `bun:"start,notnull"`
	Name               string `bun:"name,notnull"`
	Meta               string `bun:"meta,notnull"`
	IdentityID         string `bun:"identity_id,notnull"`
	Enabled            bool   `bun:"enabled,notnull"`
	Expires            *int64 `bun:"expires"`
	RefillInterval     string `bun:"refill_interval,notnull"`
	RefillAmount       int64  `bun:"refill_amount,notnull"`
	RefillDay          int    `bun:"refill_day,notnull"`
	LastRefillAt       *int64 `bun:"last_refill_at"`
	Ratelimits         string `bun:"ratelimits,notnull"`
	KeyringID          string `bun:"keyring_id,notnull"`
	Ciphertext         string `bun:"ciphertext,notnull"`
	PendingMigrationID string `bun:"pending_migration_id,notnull"`
	CreatedAt          int64  `bun:"created_at,notnull"`
	UpdatedAt          *int64 `bun:"updated_at"`
	DeletedAt          *int64 `bun:"deleted_at"`
}

// Refill returns the refill schedule, or nil.
func (k KeyRow) Refill() *events.Refill {
	if k.RefillInterval == "" {
		return nil
	}
	return &events.Refill{Interval: k.RefillInterval, Amount: k.RefillAmount, Day: k.RefillDay}
}

// RatelimitList decodes the key's rate-limit configs.
func (k KeyRow) RatelimitList() []events.Ratelimit {
	var out []events.Ratelimit
	_ = json.Unmarshal([]byte(k.Ratelimits), &out)
	return out
}

// KeyPermissionRow is a direct permission of a key. ID is key and permission
// together, so dumps order rows deterministically.
type KeyPermissionRow struct {
	bun.BaseModel `bun:"table:key_permissions"`
	ID            string `bun:"id,pk"`
	KeyID         string `bun:"key_id,notnull"`
	PermissionID  string `bun:"permission_id,notnull"`
}

// KeyRoleRow is a role of a key.
type KeyRoleRow struct {
	bun.BaseModel `bun:"table:key_roles"`
	ID            string `bun:"id,pk"`
	KeyID         string `bun:"key_id,notnull"`
	RoleID        string `bun:"role_id,notnull"`
}

// Keys projects key events, except the credit balance.
type Keys struct{}

func (Keys) Name() string     { return "keys" }
func (Keys) Version() int     { return 1 }
func (Keys) Tables() []string { return []string{"keys", "key_permissions", "key_roles"} }

func (Keys) Setup(ctx context.Context, db bun.IDB) error {
	for _, m := range []any{(*KeyRow)(nil), (*KeyPermissionRow)(nil), (*KeyRoleRow)(nil)} {
		if _, err := db.NewCreateTable().Model(m).IfNotExists().Exec(ctx); err != nil {
			return err
		}
	}
	for _, ix := range []struct {
		model any
		name  string
		cols  []string
	}{
		{(*KeyRow)(nil), "keys_api_idx", []string{"api_id", "id"}},
		{(*KeyPermissionRow)(nil), "key_permissions_key_idx", []string{"key_id"}},
		{(*KeyRoleRow)(nil), "key_roles_key_idx", []string{"key_id"}},
	} {
		if _, err := db.NewCreateIndex().Model(ix.model).Index(ix.name).IfNotExists().Column(ix.cols...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// canonicalJSON renders a JSON object in one canonical form (sorted keys, no
// spaces, numbers kept exact). PostgreSQL stores event payloads as jsonb,
// which reorders and respaces them, so without this a replayed read model
// would differ byte for byte from the one built live.
func canonicalJSON(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	if isCanonical(raw) {
		return string(raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

func ratelimitsJSON(rls []events.Ratelimit) string {
	if rls == nil {
		rls = []events.Ratelimit{}
	}
	b, _ := json.Marshal(rls)
	return string(b)
}

func (Keys) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	at := rec.OccurredAt.UnixMilli()
	touch := func(keyID string, set string, args ...any) error {
		_, err := db.NewUpdate().Model((*KeyRow)(nil)).Set(set, args...).Set("updated_at = ?", at).Where("id = ?", keyID).Exec(ctx)
		return err
	}
	switch e := e.(type) {
	case events.KeyCreated:
		if _, err := db.NewInsert().Model(newKeyRow(e, at)).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		if err := addKeyPermissions(ctx, db, e.KeyID, e.PermissionIDs); err != nil {
			return err
		}
		return addKeyRoles(ctx, db, e.KeyID, e.RoleIDs)
	case events.KeyUpdated:
		q := db.NewUpdate().Model((*KeyRow)(nil)).Set("updated_at = ?", at).Where("id = ?", e.KeyID)
		if e.Name != nil {
			q = q.Set("name = ?", events.ValueOr0(e.Name.Value))
		}
		if e.IdentityID != nil {
			q = q.Set("identity_id = ?", events.ValueOr0(e.IdentityID.Value))
		}
		if e.Meta != nil {
			q = q.Set("meta = ?", canonicalJSON(events.ValueOr0(e.Meta.Value)))
		}
		if e.Expires != nil {
			q = q.Set("expires = ?", e.Expires.Value)
		}
		if e.Refill != nil {
			r := events.ValueOr0(e.Refill.Value)
			q = q.Set("refill_interval = ?, refill_amount = ?, refill_day = ?", r.Interval, r.Amount, r.Day)
		}
		if e.Ratelimits != nil {
			q = q.Set("ratelimits = ?", ratelimitsJSON(*e.Ratelimits))
		}
		_, err := q.Exec(ctx)
		return err
	case events.KeyEnabled:
		return touch(e.KeyID, "enabled = ?", true)
	case events.KeyDisabled:
		return touch(e.KeyID, "enabled = ?", false)
	case events.KeyDeleted:
		if !e.Permanent {
			return touch(e.KeyID, "deleted_at = ?", at)
		}
		for _, m := range []any{(*KeyPermissionRow)(nil), (*KeyRoleRow)(nil)} {
			if _, err := db.NewDelete().Model(m).Where("key_id = ?", e.KeyID).Exec(ctx); err != nil {
				return err
			}
		}
		_, err := db.NewDelete().Model((*KeyRow)(nil)).Where("id = ?", e.KeyID).Exec(ctx)
		return err
	case events.KeyCreditsSet:
		if e.Remaining == nil {
			return touch(e.KeyID, "refill_interval = '', refill_amount = 0, refill_day = 0")
		}
		return touch(e.KeyID, "enabled = enabled")
	case events.KeyCreditsIncremented, events.KeyCreditsDecremented:
		return touch(keyIDOf(e), "enabled = enabled")
	case events.KeyRefilled:
		_, err := db.NewUpdate().Model((*KeyRow)(nil)).Set("last_refill_at = ?", at).Where("id = ?", e.KeyID).Exec(ctx)
		return err
	case events.KeyPermissionsAdded:
		return addKeyPermissions(ctx, db, e.KeyID, e.PermissionIDs)
	case events.KeyPermissionsRemoved:
		_, err := db.NewDelete().Model((*KeyPermissionRow)(nil)).Where("key_id = ? AND permission_id IN (?)", e.KeyID, bun.In(e.PermissionIDs)).Exec(ctx)
		return err
	case events.KeyPermissionsSet:
		if _, err := db.NewDelete().Model((*KeyPermissionRow)(nil)).Where("key_id = ?", e.KeyID).Exec(ctx); err != nil {
			return err
		}
		return addKeyPermissions(ctx, db, e.KeyID, e.PermissionIDs)
	case events.KeyRolesAdded:
		return addKeyRoles(ctx, db, e.KeyID, e.RoleIDs)
	case events.KeyRolesRemoved:
		_, err := db.NewDelete().Model((*KeyRoleRow)(nil)).Where("key_id = ? AND role_id IN (?)", e.KeyID, bun.In(e.RoleIDs)).Exec(ctx)
		return err
	case events.KeyRolesSet:
		if _, err := db.NewDelete().Model((*KeyRoleRow)(nil)).Where("key_id = ?", e.KeyID).Exec(ctx); err != nil {
			return err
		}
		return addKeyRoles(ctx, db, e.KeyID, e.RoleIDs)
	case events.KeyRerolled:
		return touch(e.KeyID, "expires = ?", e.Expires)
	case events.KeyMigrated:
		return touch(e.KeyID, "hash = ?, start = ?, pending_migration_id = ''", e.Hash, e.Start)
	case events.PermissionDeleted:
		// A deleted permission or role is detached from every key; the key
		// streams are not touched, so keys' updated_at stays as it was.
		_, err := db.NewDelete().Model((*KeyPermissionRow)(nil)).Where("permission_id = ?", e.PermissionID).Exec(ctx)
		return err
	case events.RoleDeleted:
		_, err := db.NewDelete().Model((*KeyRoleRow)(nil)).Where("role_id = ?", e.RoleID).Exec(ctx)
		return err
	}
	return nil
}

func newKeyRow(e events.KeyCreated, at int64) *KeyRow {
	row := &KeyRow{ID: e.KeyID, WorkspaceID: e.WorkspaceID, APIID: e.APIID, KeySpaceID: e.KeySpaceID, Hash: e.Hash,
		Start: e.Start, Name: e.Name, Meta: canonicalJSON(e.Meta), IdentityID: e.IdentityID, Enabled: e.Enabled, Expires: e.Expires,
		Ratelimits: ratelimitsJSON(e.Ratelimits), PendingMigrationID: e.PendingMigrationID, CreatedAt: at}
	if e.Refill != nil {
		row.RefillInterval, row.RefillAmount, row.RefillDay = e.Refill.Interval, e.Refill.Amount, e.Refill.Day
	}
	if e.Encrypted != nil {
		row.KeyringID, row.Ciphertext = e.Encrypted.KeyringID, e.Encrypted.Ciphertext
	}
	return row
}

// NewBulk is the in-memory form of Handle for replay.
func (Keys) NewBulk() Bulk {
	return &keysBulk{rows: newRowSet[KeyRow](), perms: newLinks(), roles: newLinks()}
}

type keysBulk struct {
	rows  *rowSet[KeyRow]
	perms *links // key → permission
	roles *links // key → role
}

func (b *keysBulk) Fold(rec events.Recorded, e events.Event) {
	at := rec.OccurredAt.UnixMilli()
	// touch returns the key row to change after setting updated_at, as
	// every UPDATE of Handle's touch does, or nil for a missing key.
	touch := func(keyID string) *KeyRow {
		row := b.rows.get(keyID)
		if row != nil {
			row.UpdatedAt = &at
		}
		return row
	}
	switch e := e.(type) {
	case events.KeyCreated:
		b.rows.insert(e.KeyID, newKeyRow(e, at))
		b.perms.add(e.KeyID, e.PermissionIDs)
		b.roles.add(e.KeyID, e.RoleIDs)
	case events.KeyUpdated:
		row := touch(e.KeyID)
		if row == nil {
			return
		}
		if e.Name != nil {
			row.Name = events.ValueOr0(e.Name.Value)
		}
		if e.IdentityID != nil {
			row.IdentityID = events.ValueOr0(e.IdentityID.Value)
		}
		if e.Meta != nil {
			row.Meta = canonicalJSON(events.ValueOr0(e.Meta.Value))
		}
		if e.Expires != nil {
			row.Expires = e.Expires.Value
		}
		if e.Refill != nil {
			r := events.ValueOr0(e.Refill.Value)
			row.RefillInterval, row.RefillAmount, row.RefillDay = r.Interval, r.Amount, r.Day
		}
		if e.Ratelimits != nil {
			row.Ratelimits = ratelimitsJSON(*e.Ratelimits)
		}
	case events.KeyEnabled:
		if row := touch(e.KeyID); row != nil {
			row.Enabled = true
		}
	case events.KeyDisabled:
		if row := touch(e.KeyID); row != nil {
			row.Enabled = false
		}
	case events.KeyDeleted:
		if !e.Permanent {
			if row := touch(e.KeyID); row != nil {
				row.DeletedAt = &at
			}
			return
		}
		b.perms.removeA(e.KeyID)
		b.roles.removeA(e.KeyID)
		b.rows.delete(e.KeyID)
	case events.KeyCreditsSet:
		if row := touch(e.KeyID); row != nil && e.Remaining == nil {
			row.RefillInterval, row.RefillAmount, row.RefillDay = "", 0, 0
		}
	case events.KeyCreditsIncremented, events.KeyCreditsDecremented:
		touch(keyIDOf(e))
	case events.KeyRefilled:
		if row := b.rows.get(e.KeyID); row != nil {
			row.LastRefillAt = &at
		}
	case events.KeyPermissionsAdded:
		b.perms.add(e.KeyID, e.PermissionIDs)
	case events.KeyPermissionsRemoved:
		b.perms.remove(e.KeyID, e.PermissionIDs)
	case events.KeyPermissionsSet:
		b.perms.removeA(e.KeyID)
		b.perms.add(e.KeyID, e.PermissionIDs)
	case events.KeyRolesAdded:
		b.roles.add(e.KeyID, e.RoleIDs)
	case events.KeyRolesRemoved:
		b.roles.remove(e.KeyID, e.RoleIDs)
	case events.KeyRolesSet:
		b.roles.removeA(e.KeyID)
		b.roles.add(e.KeyID, e.RoleIDs)
	case events.KeyRerolled:
		if row := touch(e.KeyID); row != nil {
			expires := e.Expires
			row.Expires = &expires
		}
	case events.KeyMigrated:
		if row := touch(e.KeyID); row != nil {
			row.Hash, row.Start, row.PendingMigrationID = e.Hash, e.Start, ""
		}
	case events.PermissionDeleted:
		b.perms.removeB(e.PermissionID)
	case events.RoleDeleted:
		b.roles.removeB(e.RoleID)
	}
}

func (b *keysBulk) Write(ctx context.Context, db bun.IDB) error {
	if err := b.rows.write(ctx, db); err != nil {
		return err
	}
	if err := writeLinks(ctx, db, b.perms, func(keyID, permID string) KeyPermissionRow {
		return KeyPermissionRow{ID: keyID + ":" + permID, KeyID: keyID, PermissionID: permID}
	}); err != nil {
		return err
	}
	return writeLinks(ctx, db, b.roles, func(keyID, roleID string) KeyRoleRow {
		return KeyRoleRow{ID: keyID + ":" + roleID, KeyID: keyID, RoleID: roleID}
	})
}

func keyIDOf(e events.Event) string {
	switch e := e.(type) {
	case events.KeyCreditsIncremented:
		return e.KeyID
	case events.KeyCreditsDecremented:
		return e.KeyID
	}
	return ""
}

// HandleBatch inserts the keys a run of key.created events creates (with
// their permission and role links) in one statement per table, and hands
// every other event to Handle in its place in the order.
func (k Keys) HandleBatch(ctx context.Context, db bun.IDB, recs []events.Recorded, evs []events.Event) error {
	var (
		rows  []*KeyRow
		perms []*KeyPermissionRow
		roles []*KeyRoleRow
	)
	flush := func() error {
		if err := insertRowsInline(ctx, db, rows, "id"); err != nil {
			return fmt.Errorf("inserting %d keys: %w", len(rows), err)
		}
		if err := insertRowsInline(ctx, db, perms, "id"); err != nil {
			return fmt.Errorf("linking keys to permissions: %w", err)
		}
		if err := insertRowsInline(ctx, db, roles, "id"); err != nil {
			return fmt.Errorf("linking keys to roles: %w", err)
		}
		rows, perms, roles = rows[:0], perms[:0], roles[:0]
		return nil
	}
	return batchCreated(ctx, db, k, recs, evs, func(rec events.Recorded, c events.KeyCreated) {
		rows = append(rows, newKeyRow(c, rec.OccurredAt.UnixMilli()))
		for _, id := range c.PermissionIDs {
			perms = append(perms, &KeyPermissionRow{ID: c.KeyID + ":" + id, KeyID: c.KeyID, PermissionID: id})
		}
		for _, id := range c.RoleIDs {
			roles = append(roles, &KeyRoleRow{ID: c.KeyID + ":" + id, KeyID: c.KeyID, RoleID: id})
		}
	}, flush)
}

// batchCreated folds recs (evs, decoded) into p in log order: each
// key.created goes to add, every other event to p.Handle once flush has
// written what add gathered; flush runs once more at the end.
func batchCreated(ctx context.Context, db bun.IDB, p Projection, recs []events.Recorded, evs []events.Event,
	add func(rec events.Recorded, e events.KeyCreated), flush func() error) error {
	for i, e := range evs {
		if c, ok := e.(events.KeyCreated); ok {
			add(recs[i], c)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := p.Handle(ctx, db, recs[i], e); err != nil {
			return fmt.Errorf("at event %d (%s): %w", recs[i].Position, recs[i].Name, err)
		}
	}
	return flush()
}

func addKeyPermissions(ctx context.Context, db bun.IDB, keyID string, ids []string) error {
	for _, id := range ids {
		row := &KeyPermissionRow{ID: keyID + ":" + id, KeyID: keyID, PermissionID: id}
		if _, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func addKeyRoles(ctx context.Context, db bun.IDB, keyID string, ids []string) error {
	for _, id := range ids {
		row := &KeyRoleRow{ID: keyID + ":" + id, KeyID: keyID, RoleID: id}
		if _, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Key returns a live key of workspaceID, or events.ErrNotFound for a
// missing, deleted or foreign one.
func (r *Reader) Key(ctx context.Context, workspaceID, keyID string) (KeyRow, error) {
	var row KeyRow
	err := r.one(ctx, func(db bun.IDB) error {
		return db.NewSelect().Model(&row).Where("id = ? AND workspace_id = ? AND deleted_at IS NULL", keyID, workspaceID).Scan(ctx)
	})
	return row, notFound(err)
}

// KeyByHash returns the live key whose hash is hash, in any workspace, read
// from the primary: the verifier fills its cache from here right after an
// invalidation, when a lagging replica would put the old state back.
func (r *Reader) KeyByHash(ctx context.Context, hash string) (KeyRow, error) {
	var row KeyRow
	err := r.Primary.NewSelect().Model(&row).Where("hash = ? AND deleted_at IS NULL", hash).Scan(ctx)
	return row, notFound(err)
}

// ListKeysResult is one page of an API's keys in ID order, with one extra row
// fetched to learn whether there is more.
func (r *Reader) KeysOfAPI(ctx context.Context, apiID, cursor, identityID string, filterIdentity bool, limit int) ([]KeyRow, error) {
	var rows []KeyRow
	q := r.Primary.NewSelect().Model(&rows).Where("api_id = ? AND deleted_at IS NULL", apiID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	if filterIdentity {
		q = q.Where("identity_id = ?", identityID)
	}
	if err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return rows, nil
}

// KeyAccess is what a key may do: its direct permissions, its roles and the
// permissions those roles grant.
type KeyAccess struct {
	Direct          []PermissionRow
	Roles           []RoleRow
	RolePermissions []string // slugs, with duplicates across roles kept as Unkey's UNION ALL does
}

// KeyAccess loads the access of each key in keyIDs from the primary.
func (r *Reader) KeyAccess(ctx context.Context, keyIDs []string) (map[string]*KeyAccess, error) {
	out := make(map[string]*KeyAccess, len(keyIDs))
	for _, id := range keyIDs {
		out[id] = &KeyAccess{}
	}
	if len(keyIDs) == 0 {
		return out, nil
	}
	var perms []struct {
		KeyID string `bun:"key_id"`
		PermissionRow
	}
	if err := r.Primary.NewSelect().TableExpr("key_permissions AS kp").
		ColumnExpr("kp.key_id, p.id, p.workspace_id, p.slug, p.name, p.description, p.created_at").
		Join("JOIN permissions AS p ON p.id = kp.permission_id").
		Where("kp.key_id IN (?)", bun.In(keyIDs)).OrderExpr("p.slug ASC").Scan(ctx, &perms); err != nil {
		return nil, fmt.Errorf("reading key permissions: %w", err)
	}
	for _, p := range perms {
		out[p.KeyID].Direct = append(out[p.KeyID].Direct, p.PermissionRow)
	}
	var roles []struct {
		KeyID string `bun:"key_id"`
		RoleRow
	}
	if err := r.Primary.NewSelect().TableExpr("key_roles AS kr").
		ColumnExpr("kr.key_id, r.id, r.workspace_id, r.name, r.description, r.created_at").
		Join("JOIN roles AS r ON r.id = kr.role_id").
		Where("kr.key_id IN (?)", bun.In(keyIDs)).OrderExpr("r.name ASC").Scan(ctx, &roles); err != nil {
		return nil, fmt.Errorf("reading key roles: %w", err)
	}
	var roleIDs []string
	for _, rl := range roles {
		out[rl.KeyID].Roles = append(out[rl.KeyID].Roles, rl.RoleRow)
		roleIDs = append(roleIDs, rl.ID)
	}
	if len(roleIDs) > 0 {
		var rps []struct {
			RoleID string `bun:"role_id"`
			Slug   string `bun:"slug"`
		}
		if err := r.Primary.NewSelect().TableExpr("role_permissions AS rp").ColumnExpr("rp.role_id, p.slug").
			Join("JOIN permissions AS p ON p.id = rp.permission_id").
			Where("rp.role_id IN (?)", bun.In(roleIDs)).OrderExpr("p.slug ASC").Scan(ctx, &rps); err != nil {
			return nil, fmt.Errorf("reading role permissions: %w", err)
		}
		for _, rl := range roles {
			for _, rp := range rps {
				if rp.RoleID == rl.ID {
					out[rl.KeyID].RolePermissions = append(out[rl.KeyID].RolePermissions, rp.Slug)
				}
			}
		}
	}
	return out, nil
}

// KeysWithRefill returns every live key that has a refill schedule.
func (r *Reader) KeysWithRefill(ctx context.Context) ([]KeyRow, error) {
	var rows []KeyRow
	err := r.Primary.NewSelect().Model(&rows).Where("refill_interval <> '' AND deleted_at IS NULL").Order("id ASC").Scan(ctx)
	return rows, err
}
