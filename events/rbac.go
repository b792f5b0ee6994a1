package events

import "slices"

// PermissionCreated defines a permission slug in a workspace.
type PermissionCreated struct {
	PermissionID string `json:"permissionId"`
	WorkspaceID  string `json:"workspaceId"`
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
}

// PermissionDeleted removes a permission. Keys and roles holding it lose it
// (projections detach it); the slug is free again.
type PermissionDeleted struct {
	PermissionID string `json:"permissionId"`
	WorkspaceID  string `json:"workspaceId"`
	Slug         string `json:"slug"`
}

// RoleCreated defines a named role with its initial permissions.
type RoleCreated struct {
	RoleID        string   `json:"roleId"`
	WorkspaceID   string   `json:"workspaceId"`
	Name          string   `json:"name"`
	Description   string   `json:"description,omitempty"`
	PermissionIDs []string `json:"permissionIds,omitempty"`
}

// RolePermissionsSet replaces the role's permissions with the complete list.
type RolePermissionsSet struct {
	RoleID        string   `json:"roleId"`
	WorkspaceID   string   `json:"workspaceId"`
	PermissionIDs []string `json:"permissionIds"`
}

// RoleDeleted removes a role; keys holding it lose it.
type RoleDeleted struct {
	RoleID      string `json:"roleId"`
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
}

func (PermissionCreated) EventName() string  { return "permission.created" }
func (PermissionDeleted) EventName() string  { return "permission.deleted" }
func (RoleCreated) EventName() string        { return "role.created" }
func (RolePermissionsSet) EventName() string { return "role.permissions_set" }
func (RoleDeleted) EventName() string        { return "role.deleted" }
func (PermissionCreated) EventVersion() int  { return 1 }
func (PermissionDeleted) EventVersion() int  { return 1 }
func (RoleCreated) EventVersion() int        { return 1 }
func (RolePermissionsSet) EventVersion() int { return 1 }
func (RoleDeleted) EventVersion() int        { return 1 }
func (e *PermissionCreated) value() Event    { return *e }
func (e *PermissionDeleted) value() Event    { return *e }
func (e *RoleCreated) value() Event          { return *e }
func (e *RolePermissionsSet) value() Event   { return *e }
func (e *RoleDeleted) value() Event          { return *e }

func init() {
	register(func() Event { return &PermissionCreated{} })
	register(func() Event { return &PermissionDeleted{} })
	register(func() Event { return &RoleCreated{} })
	register(func() Event { return &RolePermissionsSet{} })
	register(func() Event { return &RoleDeleted{} })
}

// PermissionStreamIDFor names the stream of a slug in a workspace: the claim
// on the slug, holding every permission that ever had it in turn, so slug
// uniqueness is the stream's version check and concurrent auto-creates of
// one slug converge. (The first permission of a slug always used this
// stream, so older logs load unchanged.)
func PermissionStreamIDFor(workspaceID, slug string) string {
	return "permission-" + PermissionIDFor(workspaceID, slug, 0)
}

// PermissionIDFor derives the ID of the generation-th permission of slug.
// A re-created slug gets a new ID, so keys and roles that held the deleted
// permission never silently hold its successor.
func PermissionIDFor(workspaceID, slug string, generation int) string {
	return "perm_" + deriveGeneration("permission", workspaceID, slug, generation)
}

// RoleStreamIDFor names the stream of a role name, for the same reasons as
// PermissionStreamIDFor.
func RoleStreamIDFor(workspaceID, name string) string {
	return "role-" + RoleIDFor(workspaceID, name, 0)
}

// RoleIDFor derives the ID of the generation-th role called name.
func RoleIDFor(workspaceID, name string, generation int) string {
	return "role_" + deriveGeneration("role", workspaceID, name, generation)
}

// Permission is the folded state of a slug's stream.
type Permission struct {
	ID          string
	WorkspaceID string
	Slug        string
	Deleted     bool
	Generation  int
	Version     int64
}

// Apply folds one event into the state.
func (p *Permission) Apply(e Event) {
	switch e := e.(type) {
	case PermissionCreated:
		*p = Permission{ID: e.PermissionID, WorkspaceID: e.WorkspaceID, Slug: e.Slug, Generation: p.Generation + 1, Version: p.Version}
	case PermissionDeleted:
		p.Deleted = true
	}
	p.Version++
}

// Live reports whether the slug is held by a live permission of workspaceID.
func (p *Permission) Live(workspaceID string) bool {
	return p.Generation > 0 && !p.Deleted && p.WorkspaceID == workspaceID
}

// Create decides defining the slug; a live permission holding it is
// ErrAlreadyExists.
func (p *Permission) Create(workspaceID, slug, name, description string) ([]Event, error) {
	if p.Generation > 0 && !p.Deleted {
		return nil, ErrAlreadyExists
	}
	return []Event{PermissionCreated{PermissionID: PermissionIDFor(workspaceID, slug, p.Generation), WorkspaceID: workspaceID,
		Slug: slug, Name: name, Description: description}}, nil
}

// Delete decides removing the permission.
func (p *Permission) Delete(workspaceID string) ([]Event, error) {
	if !p.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{PermissionDeleted{PermissionID: p.ID, WorkspaceID: p.WorkspaceID, Slug: p.Slug}}, nil
}

// Role is the folded state of a role name's stream.
type Role struct {
	ID          string
	WorkspaceID string
	Name        string
	Permissions []string
	Deleted     bool
	Generation  int
	Version     int64
}

// Apply folds one event into the state.
func (r *Role) Apply(e Event) {
	switch e := e.(type) {
	case RoleCreated:
		*r = Role{ID: e.RoleID, WorkspaceID: e.WorkspaceID, Name: e.Name, Permissions: slices.Clone(e.PermissionIDs),
			Generation: r.Generation + 1, Version: r.Version}
	case RolePermissionsSet:
		r.Permissions = slices.Clone(e.PermissionIDs)
	case RoleDeleted:
		r.Deleted = true
	}
	r.Version++
}

// Live reports whether the name is held by a live role of workspaceID.
func (r *Role) Live(workspaceID string) bool {
	return r.Generation > 0 && !r.Deleted && r.WorkspaceID == workspaceID
}

// Create decides defining the role; a live role of that name is
// ErrAlreadyExists.
func (r *Role) Create(workspaceID, name, description string, permissionIDs []string) ([]Event, error) {
	if r.Generation > 0 && !r.Deleted {
		return nil, ErrAlreadyExists
	}
	return []Event{RoleCreated{RoleID: RoleIDFor(workspaceID, name, r.Generation), WorkspaceID: workspaceID, Name: name,
		Description: description, PermissionIDs: dedupe(permissionIDs)}}, nil
}

// SetPermissions decides replacing the role's permissions; an unchanged set
// records nothing, which is what makes setRolePermissions idempotent.
func (r *Role) SetPermissions(workspaceID string, ids []string) ([]Event, error) {
	if !r.Live(workspaceID) {
		return nil, ErrNotFound
	}
	ids = dedupe(ids)
	if sameSet(ids, r.Permissions) {
		return nil, nil
	}
	return []Event{RolePermissionsSet{RoleID: r.ID, WorkspaceID: r.WorkspaceID, PermissionIDs: ids}}, nil
}

// Delete decides removing the role.
func (r *Role) Delete(workspaceID string) ([]Event, error) {
	if !r.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{RoleDeleted{RoleID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name}}, nil
}
