package handlers

import "context"

// GetPermissionInput is the input of GetPermission.
type GetPermissionInput struct {
	Permission string
}

// GetPermissionResult is what GetPermission answers.
type GetPermissionResult = PermissionData

// GetPermission reads one permission by ID or slug.
type GetPermission struct{ Reader PermissionReader }

// NewGetPermission builds the use case.
func NewGetPermission(r PermissionReader) *GetPermission { return &GetPermission{Reader: r} }

// Handle: authz (403) → lookup (404).
func (h *GetPermission) Handle(ctx context.Context, p *Principal, in GetPermissionInput) (GetPermissionResult, error) {
	ref := in.Permission
	if err := p.RequireAny("rbac.*.read_permission"); err != nil {
		return PermissionData{}, err
	}
	row, err := lookupPermission(ctx, h.Reader, p, ref)
	if err != nil {
		return PermissionData{}, err
	}
	return permissionData(row), nil
}
