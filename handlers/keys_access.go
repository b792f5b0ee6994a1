package handlers

import (
	"context"
	"fmt"

	"github.com/keyline/keyline/events"
)

// AccessChange is how keys.{add,remove,set}{Permissions,Roles} change a
// key's list. A typed value instead of a bare string: an operation this
// file does not know is an error, never a silent "set" that skipped the
// checks of the operation the caller meant.
type AccessChange int

const (
	AccessAdd AccessChange = iota + 1
	AccessRemove
	AccessSet
)

func (c AccessChange) String() string {
	switch c {
	case AccessAdd:
		return "add"
	case AccessRemove:
		return "remove"
	case AccessSet:
		return "set"
	}
	return fmt.Sprintf("AccessChange(%d)", int(c))
}

func unknownChange(c AccessChange) error {
	return Internal("changing key access", fmt.Errorf("unknown change %v", c))
}

// KeyPermissionsInput is the input of KeyPermissions.
type KeyPermissionsInput struct {
	Change      AccessChange
	KeyID       string
	Permissions []string
}

// KeyPermissionsResult is what KeyPermissions answers.
type KeyPermissionsResult = []PermissionData

// KeyPermissions adds, removes or replaces a key's direct permissions.
type KeyPermissions struct {
	Log    EventLog
	Reader KeyReader
}

// NewKeyPermissions builds the use case.
func NewKeyPermissions(log EventLog, r KeyReader) *KeyPermissions {
	return &KeyPermissions{Log: log, Reader: r}
}

// Handle applies op and returns the key's direct permissions afterwards.
// Unknown slugs are created by add and set, but only for a caller that may
// create permissions; remove answers 404 for them.
func (h *KeyPermissions) Handle(ctx context.Context, p *Principal, in KeyPermissionsInput) (KeyPermissionsResult, error) {
	op := in.Change
	keyID := in.KeyID
	refs := in.Permissions
	var needs []string
	switch op {
	case AccessAdd:
		needs = []string{"rbac.*.add_permission_to_key"}
	case AccessRemove:
		needs = []string{"rbac.*.remove_permission_from_key"}
	case AccessSet:
		needs = []string{"rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"}
	default:
		return nil, unknownChange(op)
	}
	if err := requireKeyAccessChange(ctx, h.Log, p, keyID, needs); err != nil {
		return nil, err
	}
	onMissing := mustExist
	if op != AccessRemove {
		onMissing = func(string) error { return p.RequireAny(createPermissionPerms(p)...) }
	}
	ids, err := resolvePermissions(ctx, h.Reader, h.Log, p, refs, onMissing)
	if err != nil {
		return nil, err
	}
	if _, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch op {
		case AccessAdd:
			return k.AddPermissions(p.WorkspaceID, ids)
		case AccessRemove:
			return k.RemovePermissions(p.WorkspaceID, ids)
		case AccessSet:
			return k.SetPermissions(p.WorkspaceID, ids)
		}
		return nil, unknownChange(op)
	}); err != nil {
		return nil, err
	}
	access, err := h.Reader.KeyAccess(ctx, []string{keyID})
	if err != nil {
		return nil, Internal("reading key permissions", err)
	}
	out := []PermissionData{}
	for _, row := range access[keyID].Direct {
		out = append(out, PermissionData{ID: row.ID, Name: row.Name, Slug: row.Slug, Description: row.Description})
	}
	return out, nil
}

// KeyRolesInput is the input of KeyRoles.
type KeyRolesInput struct {
	Change AccessChange
	KeyID  string
	Roles  []string
}

// KeyRolesResult is what KeyRoles answers.
type KeyRolesResult = []RoleData

// KeyRoles adds, removes or replaces a key's roles.
type KeyRoles struct {
	Log    EventLog
	Reader KeyReader
}

// NewKeyRoles builds the use case.
func NewKeyRoles(log EventLog, r KeyReader) *KeyRoles { return &KeyRoles{Log: log, Reader: r} }

// Handle applies op and returns the key's roles afterwards. Roles must
// exist: an unknown one is a 404. Only adding needs an rbac tuple beyond
// update_key, as in Unkey.
func (h *KeyRoles) Handle(ctx context.Context, p *Principal, in KeyRolesInput) (KeyRolesResult, error) {
	op := in.Change
	keyID := in.KeyID
	refs := in.Roles
	var needs []string
	switch op {
	case AccessAdd:
		needs = []string{"rbac.*.add_role_to_key"}
	case AccessRemove, AccessSet:
	default:
		return nil, unknownChange(op)
	}
	if err := requireKeyAccessChange(ctx, h.Log, p, keyID, needs); err != nil {
		return nil, err
	}
	ids, _, err := resolveRoles(ctx, h.Reader, p.WorkspaceID, refs)
	if err != nil {
		return nil, err
	}
	if _, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch op {
		case AccessAdd:
			return k.AddRoles(p.WorkspaceID, ids)
		case AccessRemove:
			return k.RemoveRoles(p.WorkspaceID, ids)
		case AccessSet:
			return k.SetRoles(p.WorkspaceID, ids)
		}
		return nil, unknownChange(op)
	}); err != nil {
		return nil, err
	}
	access, err := h.Reader.KeyAccess(ctx, []string{keyID})
	if err != nil {
		return nil, Internal("reading key roles", err)
	}
	out := []RoleData{}
	for _, row := range access[keyID].Roles {
		out = append(out, RoleData{ID: row.ID, Name: row.Name, Description: row.Description})
	}
	return out, nil
}

// requireKeyAccessChange looks the key up (404), then checks Unkey's rule
// for changing its permissions or roles: the resource permission
// update_key on the key alone suffices; otherwise the legacy update_key
// tuple AND every rbac tuple in needs (403 naming the first one missing).
func requireKeyAccessChange(ctx context.Context, log EventLog, p *Principal, keyID string, needs []string) error {
	k, err := lookupKeyForUpdate(ctx, log, p, keyID)
	if err != nil {
		return err
	}
	if p.Has(p.URN("keyspaces/"+k.KeySpaceID+"/keys/"+k.ID, "update_key")) {
		return nil
	}
	if err := p.RequireAny(keyPerms(p, k.APIID, k.KeySpaceID, k.ID, "update_key")...); err != nil {
		return err
	}
	for _, perm := range needs {
		if err := p.RequireAny(perm); err != nil {
			return err
		}
	}
	return nil
}
