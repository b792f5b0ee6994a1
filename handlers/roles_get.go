package handlers

import (
	"context"

	"github.com/keyline/keyline/projections"
)

// GetRoleInput is the input of GetRole.
type GetRoleInput struct {
	Role string
}

// GetRoleResult is what GetRole answers.
type GetRoleResult = RoleData

// GetRole reads one role, with its permissions, by ID or name.
type GetRole struct{ Reader PermissionReader }

// NewGetRole builds the use case.
func NewGetRole(r PermissionReader) *GetRole { return &GetRole{Reader: r} }

// Handle: authz (403) → lookup (404).
func (h *GetRole) Handle(ctx context.Context, p *Principal, in GetRoleInput) (GetRoleResult, error) {
	ref := in.Role
	if err := p.RequireAny("rbac.*.read_role"); err != nil {
		return RoleData{}, err
	}
	row, err := lookupRole(ctx, h.Reader, p, ref)
	if err != nil {
		return RoleData{}, err
	}
	out, err := rolesData(ctx, h.Reader, []projections.RoleRow{row})
	if err != nil {
		return RoleData{}, err
	}
	return out[0], nil
}
