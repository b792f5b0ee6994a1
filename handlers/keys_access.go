package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// KeyPermissions adds, removes or replaces a key's direct permissions.
type KeyPermissions struct {
	Log    EventLog
	Reader KeyReader
}

// NewKeyPermissions builds the use case.
func NewKeyPermissions(log EventLog, r KeyReader) *KeyPermissions {
	return &KeyPermissions{Log: log, Reader: r}
}

// Handle applies op ("add", "remove" or "set") and returns the key's direct
// permissions afterwards. Unknown slugs are created by add and set, but only
// for a caller that may create permissions; remove answers 404 for them.
func (h *KeyPermissions) Handle(ctx context.Context, p *Principal, op, keyID string, refs []string) ([]PermissionData, error) {
	if _, err := lookupKeyForUpdate(ctx, h.Log, p, keyID, "update_key"); err != nil {
		return nil, err
	}
	needs := map[string][]string{"add": {"rbac.*.add_permission_to_key"}, "remove": {"rbac.*.remove_permission_from_key"},
		"set": {"rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"}}[op]
	for _, perm := range needs {
		if err := p.RequireAny(perm); err != nil {
			return nil, err
		}
	}
	onMissing := mustExist
	if op != "remove" {
		onMissing = func(string) error { return p.RequireAny("rbac.*.create_permission") }
	}
	ids, err := resolvePermissions(ctx, h.Reader, h.Log, p, refs, onMissing)
	if err != nil {
		return nil, err
	}
	if _, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch op {
		case "add":
			return k.AddPermissions(p.WorkspaceID, ids)
		case "remove":
			return k.RemovePermissions(p.WorkspaceID, ids)
		default:
			return k.SetPermissions(p.WorkspaceID, ids)
		}
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

// KeyRoles adds, removes or replaces a key's roles.
type KeyRoles struct {
	Log    EventLog
	Reader KeyReader
}

// NewKeyRoles builds the use case.
func NewKeyRoles(log EventLog, r KeyReader) *KeyRoles { return &KeyRoles{Log: log, Reader: r} }

// Handle applies op and returns the key's roles afterwards. Roles must
// exist: an unknown one is a 404.
func (h *KeyRoles) Handle(ctx context.Context, p *Principal, op, keyID string, refs []string) ([]RoleData, error) {
	if _, err := lookupKeyForUpdate(ctx, h.Log, p, keyID, "update_key"); err != nil {
		return nil, err
	}
	if op == "add" {
		if err := p.RequireAny("rbac.*.add_role_to_key"); err != nil {
			return nil, err
		}
	}
	ids, _, err := resolveRoles(ctx, h.Reader, p.WorkspaceID, refs)
	if err != nil {
		return nil, err
	}
	if _, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		switch op {
		case "add":
			return k.AddRoles(p.WorkspaceID, ids)
		case "remove":
			return k.RemoveRoles(p.WorkspaceID, ids)
		default:
			return k.SetRoles(p.WorkspaceID, ids)
		}
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
