package projections

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RoleRow is a role of a workspace. Deleted roles are removed.
type RoleRow struct {
	bun.BaseModel `bun:"table:roles"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	Name          string `bun:"name,notnull"`
	Description   string `bun:"description,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
}

// RolePermissionRow grants a permission to a role. ID is role and
// permission together, so dumps order rows deterministically.
type RolePermissionRow struct {
	bun.BaseModel `bun:"table:role_permissions"`
	ID            string `bun:"id,pk"`
	RoleID        string `bun:"role_id,notnull"`
	PermissionID  string `bun:"permission_id,notnull"`
}

// Roles projects role events, and detaches deleted permissions from roles.
type Roles struct{}

func (Roles) Name() string     { return "roles" }
func (Roles) Version() int     { return 1 }
func (Roles) Tables() []string { return []string{"roles", "role_permissions"} }

func (Roles) Setup(ctx context.Context, db bun.IDB) error {
	for _, m := range []any{(*RoleRow)(nil), (*RolePermissionRow)(nil)} {
		if _, err := db.NewCreateTable().Model(m).IfNotExists().Exec(ctx); err != nil {
			return err
		}
	}
	_, err := db.NewCreateIndex().Model((*RolePermissionRow)(nil)).Index("role_permissions_role_idx").IfNotExists().
		Column("role_id").Exec(ctx)
	return err
}

func (Roles) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	switch e := e.(type) {
	case events.RoleCreated:
		row := &RoleRow{ID: e.RoleID, WorkspaceID: e.WorkspaceID, Name: e.Name, Description: e.Description, CreatedAt: rec.OccurredAt.UnixMilli()}
		if _, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		return addRolePermissions(ctx, db, e.RoleID, e.PermissionIDs)
	case events.RolePermissionsSet:
		if _, err := db.NewDelete().Model((*RolePermissionRow)(nil)).Where("role_id = ?", e.RoleID).Exec(ctx); err != nil {
			return err
		}
		return addRolePermissions(ctx, db, e.RoleID, e.PermissionIDs)
	case events.RoleDeleted:
		if _, err := db.NewDelete().Model((*RolePermissionRow)(nil)).Where("role_id = ?", e.RoleID).Exec(ctx); err != nil {
			return err
		}
		_, err := db.NewDelete().Model((*RoleRow)(nil)).Where("id = ?", e.RoleID).Exec(ctx)
		return err
	case events.PermissionDeleted:
		_, err := db.NewDelete().Model((*RolePermissionRow)(nil)).Where("permission_id = ?", e.PermissionID).Exec(ctx)
		return err
	}
	return nil
}

func addRolePermissions(ctx context.Context, db bun.IDB, roleID string, ids []string) error {
	for _, id := range ids {
		row := &RolePermissionRow{ID: roleID + ":" + id, RoleID: roleID, PermissionID: id}
		if _, err := db.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// RolesByRef returns the workspace's roles whose name or ID is in refs.
func (r *Reader) RolesByRef(ctx context.Context, workspaceID string, refs []string) ([]RoleRow, error) {
	var rows []RoleRow
	if len(refs) == 0 {
		return rows, nil
	}
	err := r.Primary.NewSelect().Model(&rows).
		Where("workspace_id = ? AND (name IN (?) OR id IN (?))", workspaceID, bun.In(refs), bun.In(refs)).Scan(ctx)
	return rows, err
}

// RoleByRef returns the workspace's role whose ID or name is ref (the ID
// wins), or events.ErrNotFound.
func (r *Reader) RoleByRef(ctx context.Context, workspaceID, ref string) (RoleRow, error) {
	rows, err := r.RolesByRef(ctx, workspaceID, []string{ref})
	if err != nil {
		return RoleRow{}, err
	}
	for _, row := range rows {
		if row.ID == ref {
			return row, nil
		}
	}
	if len(rows) == 0 {
		return RoleRow{}, events.ErrNotFound
	}
	return rows[0], nil
}

// ListRoles returns up to limit+1 roles of a workspace in ID order from
// cursor on, whose name, ID or description contains search.
func (r *Reader) ListRoles(ctx context.Context, workspaceID, cursor, search string, limit int) ([]RoleRow, error) {
	var rows []RoleRow
	q := r.Primary.NewSelect().Model(&rows).Where("workspace_id = ?", workspaceID)
	if cursor != "" {
		q = q.Where("id >= ?", cursor)
	}
	if pattern, ok := containsPattern(search); ok {
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(id) LIKE ? ESCAPE '\\' OR LOWER(description) LIKE ? ESCAPE '\\')",
			pattern, pattern, pattern)
	}
	err := q.Order("id ASC").Limit(int64(limit + 1)).Scan(ctx)
	return rows, err
}

// PermissionsOfRoles returns the live permissions of each role, by slug.
func (r *Reader) PermissionsOfRoles(ctx context.Context, roleIDs []string) (map[string][]PermissionRow, error) {
	out := make(map[string][]PermissionRow, len(roleIDs))
	if len(roleIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		RoleID string `bun:"role_id"`
		PermissionRow
	}
	if err := r.Primary.NewSelect().TableExpr("role_permissions AS rp").
		ColumnExpr("rp.role_id, p.id, p.workspace_id, p.slug, p.name, p.description, p.created_at").
		Join("JOIN permissions AS p ON p.id = rp.permission_id").
		Where("rp.role_id IN (?)", bun.In(roleIDs)).OrderExpr("p.slug ASC").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("reading role permissions: %w", err)
	}
	for _, row := range rows {
		out[row.RoleID] = append(out[row.RoleID], row.PermissionRow)
	}
	return out, nil
}

// NewBulk is the in-memory form of Handle for replay.
func (Roles) NewBulk() Bulk { return &rolesBulk{rows: newRowSet[RoleRow](), perms: newLinks()} }

type rolesBulk struct {
	rows  *rowSet[RoleRow]
	perms *links // role → permission
}

func (b *rolesBulk) Fold(rec events.Recorded, e events.Event) {
	switch e := e.(type) {
	case events.RoleCreated:
		b.rows.insert(e.RoleID, &RoleRow{ID: e.RoleID, WorkspaceID: e.WorkspaceID, Name: e.Name, Description: e.Description,
			CreatedAt: rec.OccurredAt.UnixMilli()})
		b.perms.add(e.RoleID, e.PermissionIDs)
	case events.RolePermissionsSet:
		b.perms.removeA(e.RoleID)
		b.perms.add(e.RoleID, e.PermissionIDs)
	case events.RoleDeleted:
		b.perms.removeA(e.RoleID)
		b.rows.delete(e.RoleID)
	case events.PermissionDeleted:
		b.perms.removeB(e.PermissionID)
	}
}

func (b *rolesBulk) Write(ctx context.Context, db bun.IDB) error {
	if err := b.rows.write(ctx, db); err != nil {
		return err
	}
	return writeLinks(ctx, db, b.perms, func(roleID, permID string) RolePermissionRow {
		return RolePermissionRow{ID: roleID + ":" + permID, RoleID: roleID, PermissionID: permID}
	})
}
