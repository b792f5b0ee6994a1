package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// CreateRoleInput is the input of CreateRole.
type CreateRoleInput struct {
	Name        string
	Description string
	Permissions []string
}

// CreateRoleResult is what CreateRole answers.
type CreateRoleResult struct{ RoleID string }

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
func (h *CreateRole) Handle(ctx context.Context, p *Principal, in CreateRoleInput) (CreateRoleResult, error) {
	name := in.Name
	description := in.Description
	perms := in.Permissions
	if err := p.RequireAny("rbac.*.create_role"); err != nil {
		return CreateRoleResult{}, err
	}
	if len(perms) > 0 {
		if err := p.RequireAny("rbac.*.add_permission_to_role"); err != nil {
			return CreateRoleResult{}, err
		}
	}
	conflict := Fail(CodeRoleAlreadyExists, "A role with name '"+name+"' already exists in this workspace.")
	var ids []string
	resolved := false
	meta := metaFor(ctx, p)
	// A racing creator of the same name moves the stream: the retry finds
	// its live role, and this request is the 409.
	agg, err := update(ctx, h.Log, events.RoleStreamIDFor(p.WorkspaceID, name), &meta, "role", func(agg *events.Role) ([]events.Event, error) {
		if agg.Live(p.WorkspaceID) {
			return nil, conflict
		}
		// The permissions are resolved (and auto-created) only once the
		// name is known to be free, and only once across retries.
		if len(perms) > 0 && !resolved {
			var err error
			if ids, err = rolePermissionIDs(ctx, h.Reader, h.Log, p, perms); err != nil {
				return nil, err
			}
			resolved = true
		}
		decided, err := agg.Create(p.WorkspaceID, name, description, ids)
		if errors.Is(err, events.ErrAlreadyExists) {
			return nil, conflict
		}
		if err != nil {
			return nil, Internal("deciding role creation", err)
		}
		return decided, nil
	})
	if err != nil {
		return CreateRoleResult{}, err
	}
	return CreateRoleResult{RoleID: agg.ID}, nil
}
