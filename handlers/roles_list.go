package handlers

import "context"

// ListRolesResult is one page of roles.
type ListRolesResult struct {
	Roles   []RoleData
	HasMore bool
	Cursor  string
}

// ListRolesInput is the input of ListRoles.
type ListRolesInput struct {
	Cursor string
	Search string
	Limit  int
}

// ListRoles pages through the workspace's roles, each with its permissions.
type ListRoles struct{ Reader PermissionReader }

// NewListRoles builds the use case.
func NewListRoles(r PermissionReader) *ListRoles { return &ListRoles{Reader: r} }

// Handle returns the page from cursor on, filtered by search.
func (h *ListRoles) Handle(ctx context.Context, p *Principal, in ListRolesInput) (ListRolesResult, error) {
	cursor := in.Cursor
	search := in.Search
	limit := in.Limit
	if err := p.RequireAny("rbac.*.read_role"); err != nil {
		return ListRolesResult{}, err
	}
	limit = listLimit(limit)
	rows, err := h.Reader.ListRoles(ctx, p.WorkspaceID, cursor, search, limit)
	if err != nil {
		return ListRolesResult{}, Internal("listing roles", err)
	}
	page := ListRolesResult{}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	if page.Roles, err = rolesData(ctx, h.Reader, rows); err != nil {
		return ListRolesResult{}, err
	}
	return page, nil
}
