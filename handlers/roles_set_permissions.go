package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// SetRolePermissionsInput is the input of SetRolePermissions.
type SetRolePermissionsInput struct {
	RoleID      string
	Permissions []string
}

// SetRolePermissionsResult is what SetRolePermissions answers.
type SetRolePermissionsResult = []PermissionData

// SetRolePermissions replaces a role's permissions.
type SetRolePermissions struct {
	Log    EventLog
	Reader PermissionReader
}

// NewSetRolePermissions builds the use case.
func NewSetRolePermissions(log EventLog, r PermissionReader) *SetRolePermissions {
	return &SetRolePermissions{Log: log, Reader: r}
}

// Handle: add and remove tuples (403) → role lookup (404) → create_permission
// for missing slugs (403) → one append, none when the set is unchanged (a
// repeat is a no-op) → the role's resulting permissions.
func (h *SetRolePermissions) Handle(ctx context.Context, p *Principal, in SetRolePermissionsInput) (SetRolePermissionsResult, error) {
	roleID := in.RoleID
	refs := in.Permissions
	for _, perm := range []string{"rbac.*.add_permission_to_role", "rbac.*.remove_permission_from_role"} {
		if err := p.RequireAny(perm); err != nil {
			return nil, err
		}
	}
	row, err := lookupRole(ctx, h.Reader, p, roleID)
	if err != nil {
		return nil, err
	}
	var ids []string
	if len(refs) > 0 {
		if ids, err = rolePermissionIDs(ctx, h.Reader, h.Log, p, refs); err != nil {
			return nil, err
		}
	}
	if err := appendToRole(ctx, h.Log, p, row, func(r *events.Role) ([]events.Event, error) {
		return r.SetPermissions(p.WorkspaceID, ids)
	}); err != nil {
		return nil, err
	}
	out, err := rolesData(ctx, h.Reader, []projections.RoleRow{row})
	if err != nil {
		return nil, err
	}
	return out[0].Permissions, nil
}
