package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// DeleteRoleInput is the input of DeleteRole.
type DeleteRoleInput struct {
	Role string
}

// DeleteRoleResult is what DeleteRole answers.
type DeleteRoleResult struct{}

// DeleteRole removes a role; keys lose it (the projections detach it and
// role.* events clear every node's verify cache).
type DeleteRole struct {
	Log    EventLog
	Reader PermissionReader
}

// NewDeleteRole builds the use case.
func NewDeleteRole(log EventLog, r PermissionReader) *DeleteRole {
	return &DeleteRole{Log: log, Reader: r}
}

// Handle: authz (403) → lookup (404) → append on the name's stream.
func (h *DeleteRole) Handle(ctx context.Context, p *Principal, in DeleteRoleInput) (DeleteRoleResult, error) {
	ref := in.Role
	if err := p.RequireAny("rbac.*.delete_role"); err != nil {
		return DeleteRoleResult{}, err
	}
	row, err := lookupRole(ctx, h.Reader, p, ref)
	if err != nil {
		return DeleteRoleResult{}, err
	}
	return DeleteRoleResult{}, appendToRole(ctx, h.Log, p, row, func(r *events.Role) ([]events.Event, error) { return r.Delete(p.WorkspaceID) })
}
