package projections

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// RoleRow is a role of a workspace. Roles are created through the
// permissions.* endpoints, which belong to the RBAC issue; until those land
// this read model stays empty and keys can only be given roles that exist.
type RoleRow struct {
	bun.BaseModel `bun:"table:roles"`
	ID            string `bun:"id,pk"`
	WorkspaceID   string `bun:"workspace_id,notnull"`
	Name          string `bun:"name,notnull"`
	Description   string `bun:"description,notnull"`
	CreatedAt     int64  `bun:"created_at,notnull"`
}

// RolePermissionRow grants a permission to a role.
type RolePermissionRow struct {
	bun.BaseModel `bun:"table:role_permissions"`
	ID            string `bun:"id,pk"`
	RoleID        string `bun:"role_id,notnull"`
	PermissionID  string `bun:"permission_id,notnull"`
}

// Roles owns the roles tables; it handles no event yet (see RoleRow).
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
	return nil
}

func (Roles) Handle(context.Context, bun.IDB, events.Recorded, events.Event) error { return nil }

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
