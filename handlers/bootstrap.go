package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyline/keyline/events"
)

// RootKeyPrefix starts every root key keyline mints, so a leaked one is easy
// to recognise in logs and secret scanners.
const RootKeyPrefix = "kl_root"

// initialRootKeyID is the fixed ID of the key minted on a store's very first
// start. Several nodes starting on one empty store all aim at this one stream,
// so exactly one key is created and printed.
var initialRootKeyID = events.RootKeyIDForHash("initial")

// Bootstrap creates workspaces and root keys outside the HTTP API: on first
// start, from configuration, and for `keyline bootstrap`.
type Bootstrap struct {
	Log  EventLog
	Keys RootKeyLister
}

// NewBootstrap builds the use case.
func NewBootstrap(log EventLog, keys RootKeyLister) *Bootstrap {
	return &Bootstrap{Log: log, Keys: keys}
}

// MintedRootKey is a root key with its plaintext, shown exactly once.
type MintedRootKey struct {
	WorkspaceID string `json:"workspaceId"`
	RootKeyID   string `json:"rootKeyId"`
	RootKey     string `json:"rootKey"`
}

// EnsureWorkspace creates the workspace called name, or returns the existing
// one. Safe to run concurrently from several processes.
func (b *Bootstrap) EnsureWorkspace(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Fail(CodeInvalidInput, "workspace name must not be empty")
	}
	id := events.WorkspaceIDForName(name)
	var ws events.Workspace
	if err := fold(ctx, b.Log, events.WorkspaceStreamID(id), ws.Apply); err != nil {
		return "", Internal("loading workspace", err)
	}
	decided, err := ws.Create(name)
	if errors.Is(err, events.ErrAlreadyExists) {
		return id, nil
	}
	_, err = b.Log.Append(ctx, events.WorkspaceStreamID(id), 0, events.Metadata{WorkspaceID: id, ActorID: "bootstrap"}, decided...)
	if err != nil && !errors.Is(err, events.ErrVersionConflict) {
		return "", Internal("appending workspace.created", err)
	}
	return id, nil
}

// MintRootKey creates a new random root key in workspaceID holding perms
// (every permission when perms is empty), exactly as given: the commands
// check them first (CheckRootPermissions), while tests mint grants no check
// would let through to pin that they match nothing.
func (b *Bootstrap) MintRootKey(ctx context.Context, workspaceID string, perms []string) (MintedRootKey, error) {
	return mintRootKey(ctx, b.Log, workspaceID, "bootstrap", perms)
}

func mintRootKey(ctx context.Context, log EventLog, workspaceID, name string, perms []string) (MintedRootKey, error) {
	key, start := NewSecret(RootKeyPrefix, 16)
	id := NewID("key")
	if err := createRootKey(ctx, log, rootKeySpec{workspaceID: workspaceID, id: id, plaintext: key, start: start,
		name: name, perms: perms}); err != nil {
		return MintedRootKey{}, err
	}
	return MintedRootKey{WorkspaceID: workspaceID, RootKeyID: id, RootKey: key}, nil
}

// FirstStart creates the default workspace and its first root key when the
// store has never held a root key. It returns the key to print, or ok=false
// when there was nothing to do (or another process did it first).
func (b *Bootstrap) FirstStart(ctx context.Context) (MintedRootKey, bool, error) {
	var k events.RootKey
	if err := fold(ctx, b.Log, events.RootKeyStreamID(initialRootKeyID), k.Apply); err != nil {
		return MintedRootKey{}, false, Internal("loading initial root key", err)
	}
	if k.Exists() {
		return MintedRootKey{}, false, nil
	}
	wsID, err := b.EnsureWorkspace(ctx, events.DefaultWorkspaceName)
	if err != nil {
		return MintedRootKey{}, false, err
	}
	key, start := NewSecret(RootKeyPrefix, 16)
	err = createRootKey(ctx, b.Log, rootKeySpec{workspaceID: wsID, id: initialRootKeyID, plaintext: key, start: start, name: "initial"})
	if errors.Is(err, events.ErrAlreadyExists) {
		return MintedRootKey{}, false, nil
	}
	if err != nil {
		return MintedRootKey{}, false, err
	}
	return MintedRootKey{WorkspaceID: wsID, RootKeyID: initialRootKeyID, RootKey: key}, true, nil
}

// ConfiguredRootKey is what EnsureConfiguredRootKey did: the configured
// key's ID and the IDs of earlier configured keys it revoked.
type ConfiguredRootKey struct {
	RootKeyID string
	Revoked   []string
}

// EnsureConfiguredRootKey makes sure the default workspace holds a root key
// whose value is exactly plaintext, with every permission, and revokes every
// other key an earlier bootstrap.rootKey put there: changing the setting
// replaces the key instead of adding one. Idempotent across restarts and
// safe when several nodes start at once: the key's ID derives from its
// hash, so every node aims at the same stream, and a revocation another
// node made first is not an error.
//
// A configured key that was revoked (by `keyline rootkeys revoke`, or
// because a later setting replaced it) is refused: configuration must not
// bring back a key an operator withdrew, and a node still holding an old
// setting must not revoke the newer key in turn.
func (b *Bootstrap) EnsureConfiguredRootKey(ctx context.Context, plaintext string) (ConfiguredRootKey, error) {
	wsID, err := b.EnsureWorkspace(ctx, events.DefaultWorkspaceName)
	if err != nil {
		return ConfiguredRootKey{}, err
	}
	hash := events.HashKey(plaintext)
	id := events.RootKeyIDForHash(hash)
	var k events.RootKey
	if err := fold(ctx, b.Log, events.RootKeyStreamID(id), k.Apply); err != nil {
		return ConfiguredRootKey{}, Internal("loading configured root key", err)
	}
	if k.Revoked {
		return ConfiguredRootKey{}, Fail(CodePreconditionFailed, fmt.Sprintf(
			"bootstrap.rootKey names root key %s, which was revoked; configure a new key (a revoked key never works again)", id))
	}
	start := plaintext
	if len(start) > 8 {
		start = start[:8]
	}
	err = createRootKey(ctx, b.Log, rootKeySpec{workspaceID: wsID, id: id, plaintext: plaintext, start: start,
		name: "config", configured: true})
	if err != nil && !errors.Is(err, events.ErrAlreadyExists) {
		return ConfiguredRootKey{}, err
	}
	out := ConfiguredRootKey{RootKeyID: id}
	rows, err := b.Keys.RootKeys(ctx, wsID)
	if err != nil {
		return out, Internal("listing root keys", err)
	}
	for _, r := range rows {
		if !r.Configured || r.Revoked() || r.ID == id {
			continue
		}
		err := revokeRootKey(ctx, b.Log, wsID, r.ID, "bootstrap", events.RevokedAsReplaced)
		if errors.Is(err, events.ErrRevoked) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("revoking the replaced configured root key %s: %w", r.ID, err)
		}
		out.Revoked = append(out.Revoked, r.ID)
	}
	return out, nil
}

// rootKeySpec is a root key to create.
type rootKeySpec struct {
	workspaceID, id, plaintext, start, name string
	// perms: every permission when empty.
	perms      []string
	configured bool
}

func createRootKey(ctx context.Context, log EventLog, s rootKeySpec) error {
	perms := s.perms
	if len(perms) == 0 {
		perms = events.AllRootPermissions()
	}
	var ws events.Workspace
	if err := fold(ctx, log, events.WorkspaceStreamID(s.workspaceID), ws.Apply); err != nil {
		return Internal("loading workspace", err)
	}
	var k events.RootKey
	if err := fold(ctx, log, events.RootKeyStreamID(s.id), k.Apply); err != nil {
		return Internal("loading root key", err)
	}
	decided, err := k.Create(&ws, events.RootKeyCreated{RootKeyID: s.id, Hash: events.HashKey(s.plaintext),
		Start: s.start, Name: s.name, Permissions: perms, Configured: s.configured})
	switch {
	case errors.Is(err, events.ErrNotFound):
		return Fail(CodeWorkspaceNotFound, fmt.Sprintf("workspace %s does not exist", s.workspaceID))
	case errors.Is(err, events.ErrAlreadyExists):
		return err
	case err != nil:
		return Internal("deciding root key creation", err)
	}
	_, err = log.Append(ctx, events.RootKeyStreamID(s.id), 0, events.Metadata{WorkspaceID: s.workspaceID, ActorID: "bootstrap"}, decided...)
	if errors.Is(err, events.ErrVersionConflict) {
		return events.ErrAlreadyExists
	}
	if err != nil {
		return Internal("appending root_key.created", err)
	}
	return nil
}
