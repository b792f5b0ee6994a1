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
type Bootstrap struct{ Log EventLog }

// NewBootstrap builds the use case.
func NewBootstrap(log EventLog) *Bootstrap { return &Bootstrap{Log: log} }

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
// (every permission when perms is empty).
func (b *Bootstrap) MintRootKey(ctx context.Context, workspaceID string, perms []string) (MintedRootKey, error) {
	key, start := NewSecret(RootKeyPrefix, 16)
	id := NewID("key")
	if err := b.createRootKey(ctx, workspaceID, id, key, start, "bootstrap", perms); err != nil {
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
	err = b.createRootKey(ctx, wsID, initialRootKeyID, key, start, "initial", nil)
	if errors.Is(err, events.ErrAlreadyExists) {
		return MintedRootKey{}, false, nil
	}
	if err != nil {
		return MintedRootKey{}, false, err
	}
	return MintedRootKey{WorkspaceID: wsID, RootKeyID: initialRootKeyID, RootKey: key}, true, nil
}

// EnsureConfiguredRootKey makes sure the default workspace holds a root key
// whose value is exactly plaintext, with every permission. Idempotent across
// restarts and safe when several nodes start at once: the key's ID derives
// from its hash, so every node aims at the same stream.
func (b *Bootstrap) EnsureConfiguredRootKey(ctx context.Context, plaintext string) (string, error) {
	wsID, err := b.EnsureWorkspace(ctx, events.DefaultWorkspaceName)
	if err != nil {
		return "", err
	}
	hash := events.HashKey(plaintext)
	id := events.RootKeyIDForHash(hash)
	start := plaintext
	if len(start) > 8 {
		start = start[:8]
	}
	err = b.createRootKey(ctx, wsID, id, plaintext, start, "config", nil)
	if err != nil && !errors.Is(err, events.ErrAlreadyExists) {
		return "", err
	}
	return id, nil
}

func (b *Bootstrap) createRootKey(ctx context.Context, workspaceID, id, plaintext, start, name string, perms []string) error {
	if len(perms) == 0 {
		perms = events.AllRootPermissions()
	}
	var ws events.Workspace
	if err := fold(ctx, b.Log, events.WorkspaceStreamID(workspaceID), ws.Apply); err != nil {
		return Internal("loading workspace", err)
	}
	var k events.RootKey
	if err := fold(ctx, b.Log, events.RootKeyStreamID(id), k.Apply); err != nil {
		return Internal("loading root key", err)
	}
	decided, err := k.Create(&ws, events.RootKeyCreated{RootKeyID: id, Hash: events.HashKey(plaintext),
		Start: start, Name: name, Permissions: perms})
	switch {
	case errors.Is(err, events.ErrNotFound):
		return Fail(CodeWorkspaceNotFound, fmt.Sprintf("workspace %s does not exist", workspaceID))
	case errors.Is(err, events.ErrAlreadyExists):
		return err
	case err != nil:
		return Internal("deciding root key creation", err)
	}
	_, err = b.Log.Append(ctx, events.RootKeyStreamID(id), 0, events.Metadata{WorkspaceID: workspaceID, ActorID: "bootstrap"}, decided...)
	if errors.Is(err, events.ErrVersionConflict) {
		return events.ErrAlreadyExists
	}
	if err != nil {
		return Internal("appending root_key.created", err)
	}
	return nil
}
