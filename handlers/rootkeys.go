package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/rbac"
	"github.com/keyline/keyline/projections"
)

// RootKeyLister lists a workspace's root keys, revoked ones included.
type RootKeyLister interface {
	RootKeys(ctx context.Context, workspaceID string) ([]projections.RootKeyRow, error)
}

// RootKeyAdmin is `keyline rootkeys list|create|revoke`: the lifecycle of
// root keys. Unkey manages root keys from its dashboard and its HTTP API
// has no endpoint for them, so these are operator commands with no
// principal, scoped to one workspace by name.
type RootKeyAdmin struct {
	Log  EventLog
	Keys RootKeyLister
}

// NewRootKeyAdmin builds the use case.
func NewRootKeyAdmin(log EventLog, keys RootKeyLister) *RootKeyAdmin {
	return &RootKeyAdmin{Log: log, Keys: keys}
}

// RootKeyInfo is what `keyline rootkeys list` shows of a root key: never
// its secret or hash, only the visible start of the key.
type RootKeyInfo struct {
	RootKeyID   string   `json:"rootKeyId"`
	WorkspaceID string   `json:"workspaceId"`
	Name        string   `json:"name"`
	Start       string   `json:"start"`
	Permissions []string `json:"permissions"`
	// Configured: the key bootstrap.rootKey names (or named before it changed).
	Configured bool   `json:"configured"`
	CreatedAt  int64  `json:"createdAt"`
	Revoked    bool   `json:"revoked"`
	RevokedAt  *int64 `json:"revokedAt,omitempty"`
}

// RevokedRootKey is what `keyline rootkeys revoke` reports.
type RevokedRootKey struct {
	RootKeyID   string `json:"rootKeyId"`
	WorkspaceID string `json:"workspaceId"`
	Revoked     bool   `json:"revoked"`
}

// List returns the root keys of the workspace called name, oldest first.
func (h *RootKeyAdmin) List(ctx context.Context, workspace string) ([]RootKeyInfo, error) {
	wsID, err := existingWorkspace(ctx, h.Log, workspace)
	if err != nil {
		return nil, err
	}
	rows, err := h.Keys.RootKeys(ctx, wsID)
	if err != nil {
		return nil, Internal("listing root keys", err)
	}
	out := make([]RootKeyInfo, len(rows))
	for i, r := range rows {
		out[i] = RootKeyInfo{RootKeyID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Start: r.Start,
			Permissions: r.Permissions, Configured: r.Configured, CreatedAt: r.CreatedAt, Revoked: r.Revoked(), RevokedAt: r.RevokedAt}
	}
	return out, nil
}

// Create mints a root key in the existing workspace called workspace
// holding perms (every permission when empty). The plaintext is in the
// answer and nowhere else.
func (h *RootKeyAdmin) Create(ctx context.Context, workspace, name string, perms []string) (MintedRootKey, error) {
	wsID, err := existingWorkspace(ctx, h.Log, workspace)
	if err != nil {
		return MintedRootKey{}, err
	}
	if err := checkRootPermissions(wsID, perms); err != nil {
		return MintedRootKey{}, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "cli"
	}
	return mintRootKey(ctx, h.Log, wsID, name, perms)
}

// Revoke revokes the root key id of the workspace called workspace. A key
// of another workspace is reported exactly like an unknown one.
func (h *RootKeyAdmin) Revoke(ctx context.Context, workspace, id string) (RevokedRootKey, error) {
	wsID, err := existingWorkspace(ctx, h.Log, workspace)
	if err != nil {
		return RevokedRootKey{}, err
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return RevokedRootKey{}, Fail(CodeInvalidInput, "the root key ID must not be empty")
	}
	if err := revokeRootKey(ctx, h.Log, wsID, id, "cli", events.RevokedByOperator); err != nil {
		switch {
		case errors.Is(err, events.ErrNotFound):
			return RevokedRootKey{}, Fail(CodeKeyNotFoundData, fmt.Sprintf("root key %s does not exist in workspace %q", id, strings.TrimSpace(workspace)))
		case errors.Is(err, events.ErrRevoked):
			return RevokedRootKey{}, Fail(CodePreconditionFailed, fmt.Sprintf("root key %s is already revoked", id))
		}
		return RevokedRootKey{}, err
	}
	return RevokedRootKey{RootKeyID: id, WorkspaceID: wsID, Revoked: true}, nil
}

// revokeRootKey appends root_key.revoked to id's stream on behalf of actor
// (the event's metadata) for reason (its payload). It returns
// events.ErrNotFound when workspaceID holds no such key and
// events.ErrRevoked when it was revoked already (perhaps concurrently).
func revokeRootKey(ctx context.Context, log EventLog, workspaceID, id, actor, reason string) error {
	meta := events.Metadata{WorkspaceID: workspaceID, ActorID: actor}
	_, err := update(ctx, log, events.RootKeyStreamID(id), &meta, "root key", func(k *events.RootKey) ([]events.Event, error) {
		if k.Exists() && k.WorkspaceID != workspaceID {
			return nil, events.ErrNotFound
		}
		return k.Revoke(reason)
	})
	return err
}

// existingWorkspace resolves a workspace name to the ID of a workspace that
// exists; the root-key commands never create one (keyline bootstrap does).
func existingWorkspace(ctx context.Context, log EventLog, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Fail(CodeInvalidInput, "workspace name must not be empty")
	}
	var ws events.Workspace
	if err := fold(ctx, log, events.WorkspaceStreamID(events.WorkspaceIDForName(name)), ws.Apply); err != nil {
		return "", Internal("loading workspace", err)
	}
	if !ws.Exists() {
		return "", Fail(CodeWorkspaceNotFound, fmt.Sprintf("workspace %q does not exist (keyline bootstrap creates it)", name))
	}
	return ws.ID, nil
}

// CheckRootPermissions is checkRootPermissions for `keyline bootstrap`,
// which must refuse bad permissions before it creates the workspace.
func CheckRootPermissions(workspaceID string, perms []string) error {
	return checkRootPermissions(workspaceID, perms)
}

// checkRootPermissions refuses what a root key could never use: a
// permission outside both of Unkey's grammars would silently grant nothing,
// which an operator only finds out from a 403 much later.
//
//   - a tuple <resource>.<id>.<action>: resource one of events.RootResources,
//     action one of its events.RootActions, id "*" or one resource ID
//     (IDs hold no dots);
//   - a resource permission unkey:v1:<workspace>:<path>#<action> that
//     rbac.Parse accepts, naming the key's own workspace: a grant matches
//     nothing elsewhere.
func checkRootPermissions(workspaceID string, perms []string) error {
	for _, p := range perms {
		if err := checkRootPermission(workspaceID, p); err != nil {
			return Fail(CodeInvalidInput, fmt.Sprintf("invalid permission %q: %s", p, err))
		}
	}
	return nil
}

func checkRootPermission(workspaceID, p string) error {
	if rbac.IsURN(p) {
		if _, ok := rbac.Parse(p); !ok {
			return errors.New("a resource permission is " + rbac.Prefix + "<workspaceId>:<path>#<action>, " +
				"with '*' for one path segment, a trailing '**' for any depth, and action '*' only with the path '**'")
		}
		if ws, _, _ := strings.Cut(p[len(rbac.Prefix):], ":"); ws != workspaceID {
			return fmt.Errorf("it names workspace %s, but the root key belongs to %s", ws, workspaceID)
		}
		return nil
	}
	resource, rest, ok1 := strings.Cut(p, ".")
	id, action, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || id == "" || strings.Contains(action, ".") || strings.ContainsAny(p, " \t\r\n") {
		return errors.New("a permission is <resource>.<id or *>.<action>, e.g. api.*.create_api, or a resource permission " +
			rbac.Prefix + "<workspaceId>:<path>#<action>")
	}
	actions := events.RootActions(resource)
	if len(actions) == 0 {
		return fmt.Errorf("unknown resource %q (known: %s)", resource, strings.Join(events.RootResources(), ", "))
	}
	if !slices.Contains(actions, action) {
		return fmt.Errorf("%s has no action %q (known: %s)", resource, action, strings.Join(actions, ", "))
	}
	return nil
}
