package handlers

import "context"

// ListPermissionsResult is one page of permissions.
type ListPermissionsResult struct {
	Permissions []PermissionData
	HasMore     bool
	Cursor      string
}

// ListPermissionsInput is the input of ListPermissions.
type ListPermissionsInput struct {
	Cursor string
	Search string
	Limit  int
}

// ListPermissions pages through the workspace's permissions in ID order.
type ListPermissions struct{ Reader PermissionReader }

// NewListPermissions builds the use case.
func NewListPermissions(r PermissionReader) *ListPermissions { return &ListPermissions{Reader: r} }

// Handle returns the page from cursor on, filtered by search.
func (h *ListPermissions) Handle(ctx context.Context, p *Principal, in ListPermissionsInput) (ListPermissionsResult, error) {
	cursor := in.Cursor
	search := in.Search
	limit := in.Limit
	if err := p.RequireAny("rbac.*.read_permission"); err != nil {
		return ListPermissionsResult{}, err
	}
	limit = listLimit(limit)
	rows, err := h.Reader.ListPermissions(ctx, p.WorkspaceID, cursor, search, limit)
	if err != nil {
		return ListPermissionsResult{}, Internal("listing permissions", err)
	}
	page := ListPermissionsResult{Permissions: make([]PermissionData, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, row := range rows {
		page.Permissions = append(page.Permissions, permissionData(row))
	}
	return page, nil
}
