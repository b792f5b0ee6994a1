package handlers

import "context"

// PermissionPage is one page of permissions.
type PermissionPage struct {
	Permissions []PermissionData
	HasMore     bool
	Cursor      string
}

// ListPermissions pages through the workspace's permissions in ID order.
type ListPermissions struct{ Reader PermissionReader }

// NewListPermissions builds the use case.
func NewListPermissions(r PermissionReader) *ListPermissions { return &ListPermissions{Reader: r} }

// Handle returns the page from cursor on, filtered by search.
func (h *ListPermissions) Handle(ctx context.Context, p *Principal, cursor, search string, limit int) (PermissionPage, error) {
	if err := p.RequireAny("rbac.*.read_permission"); err != nil {
		return PermissionPage{}, err
	}
	limit = listLimit(limit)
	rows, err := h.Reader.ListPermissions(ctx, p.WorkspaceID, cursor, search, limit)
	if err != nil {
		return PermissionPage{}, Internal("listing permissions", err)
	}
	page := PermissionPage{Permissions: make([]PermissionData, 0, min(len(rows), limit))}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	for _, row := range rows {
		page.Permissions = append(page.Permissions, permissionData(row))
	}
	return page, nil
}
