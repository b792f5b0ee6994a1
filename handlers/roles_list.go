package handlers

import "context"

// RolePage is one page of roles.
type RolePage struct {
	Roles   []RoleData
	HasMore bool
	Cursor  string
}

// ListRoles pages through the workspace's roles, each with its permissions.
type ListRoles struct{ Reader PermissionReader }

// NewListRoles builds the use case.
func NewListRoles(r PermissionReader) *ListRoles { return &ListRoles{Reader: r} }

// Handle returns the page from cursor on, filtered by search.
func (h *ListRoles) Handle(ctx context.Context, p *Principal, cursor, search string, limit int) (RolePage, error) {
	if err := p.RequireAny("rbac.*.read_role"); err != nil {
		return RolePage{}, err
	}
	limit = listLimit(limit)
	rows, err := h.Reader.ListRoles(ctx, p.WorkspaceID, cursor, search, limit)
	if err != nil {
		return RolePage{}, Internal("listing roles", err)
	}
	page := RolePage{}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	if page.Roles, err = rolesData(ctx, h.Reader, rows); err != nil {
		return RolePage{}, err
	}
	return page, nil
}
