package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// CreateRole defines a role, optionally with permissions.
type CreateRole struct {
	Log    EventLog
	Reader PermissionReader
}

// NewCreateRole builds the use case.
func NewCreateRole(log EventLog, r PermissionReader) *CreateRole {
	return &CreateRole{Log: log, Reader: r}
}

// Handle: create_role, plus add_permission_to_role with permissions, plus
// create_permission when a slug is missing (403) → the name's stream decides
// uniqueness (409). Missing slugs are created only after every check passed.
func (h *CreateRole) Handle(ctx context.Context, p *Principal, name, description string, perms []string) (string, error) {
	if err := p.RequireAny("rbac.*.create_role"); err != nil {
		return "", err
	}
	if len(perms) > 0 {
		if err := p.RequireAny("rbac.*.add_permission_to_role"); err != nil {
			return "", err
		}
	}
	stream := events.RoleStreamFor(p.WorkspaceID, name)
	conflict := Fail(CodeRoleAlreadyExists, "A role with name '"+name+"' already exists in this workspace.")
	var agg events.Role
	if err := fold(ctx, h.Log, stream, agg.Apply); err != nil {
		return "", Internal("loading role", err)
	}
	if agg.Live(p.WorkspaceID) {
		return "", conflict
	}
	var ids []string
	if len(perms) > 0 {
		var err error
		if ids, err = rolePermissionIDs(ctx, h.Reader, h.Log, p, perms); err != nil {
			return "", err
		}
	}
	decided, err := agg.Create(p.WorkspaceID, name, description, ids)
	if errors.Is(err, events.ErrAlreadyExists) {
		return "", conflict
	}
	if err != nil {
		return "", Internal("deciding role creation", err)
	}
	// A racing creator of the same name moved the stream: it won, this is 409.
	if _, err := h.Log.Append(ctx, stream, agg.Version, metaFor(ctx, p), decided...); errors.Is(err, events.ErrVersionConflict) {
		return "", conflict
	} else if err != nil {
		return "", Internal("appending role.created", err)
	}
	return decided[0].(events.RoleCreated).RoleID, nil
}
