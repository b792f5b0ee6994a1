package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// DefaultWorkspaceName is the workspace `keyline run` creates on an empty
// store and the one config-bootstrapped root keys live in.
const DefaultWorkspaceName = "default"

// WorkspaceCreated opens a tenant. Every other resource belongs to exactly one
// workspace, and every lookup is scoped to the caller's.
type WorkspaceCreated struct {
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
}

func (WorkspaceCreated) EventName() string { return "workspace.created" }
func (WorkspaceCreated) EventVersion() int { return 1 }
func (e *WorkspaceCreated) value() Event   { return *e }

// WorkspaceDisabled switches a workspace off, as Unkey's dashboard does:
// every key of it verifies as FORBIDDEN and its root keys are refused, but
// nothing is deleted, so WorkspaceEnabled brings it all back.
type WorkspaceDisabled struct {
	WorkspaceID string `json:"workspaceId"`
}

func (WorkspaceDisabled) EventName() string { return "workspace.disabled" }
func (WorkspaceDisabled) EventVersion() int { return 1 }
func (e *WorkspaceDisabled) value() Event   { return *e }

// WorkspaceEnabled switches a disabled workspace back on.
type WorkspaceEnabled struct {
	WorkspaceID string `json:"workspaceId"`
}

func (WorkspaceEnabled) EventName() string { return "workspace.enabled" }
func (WorkspaceEnabled) EventVersion() int { return 1 }
func (e *WorkspaceEnabled) value() Event   { return *e }

func init() {
	register(func() Event { return &WorkspaceCreated{} })
	register(func() Event { return &WorkspaceDisabled{} })
	register(func() Event { return &WorkspaceEnabled{} })
}

// WorkspaceStreamID names the stream holding one workspace's lifecycle.
func WorkspaceStreamID(workspaceID string) string { return "workspace-" + workspaceID }

// WorkspaceIDForName derives the workspace ID from its name. Deriving rather
// than drawing it at random is what makes "create or reuse the workspace
// called NAME" safe when several processes do it at once: they all aim at
// the same stream, and the stream's version check lets exactly one win.
func WorkspaceIDForName(name string) string {
	sum := sha256.Sum256([]byte("workspace:" + strings.TrimSpace(name)))
	return "ws_" + hex.EncodeToString(sum[:])[:16]
}

// Workspace is the folded state of a workspace stream.
type Workspace struct {
	ID       string
	Name     string
	Disabled bool
	Version  int64
}

// Exists reports whether the stream holds a creation event.
func (w *Workspace) Exists() bool { return w.Version > 0 }

// Apply folds one event into the state.
func (w *Workspace) Apply(e Event) {
	switch e := e.(type) {
	case WorkspaceCreated:
		w.ID, w.Name = e.WorkspaceID, e.Name
	case WorkspaceDisabled:
		w.Disabled = true
	case WorkspaceEnabled:
		w.Disabled = false
	}
	w.Version++
}

// CreateWorkspace decides the creation of a workspace named name.
func (w *Workspace) Create(name string) ([]Event, error) {
	if w.Exists() {
		return nil, ErrAlreadyExists
	}
	return []Event{WorkspaceCreated{WorkspaceID: WorkspaceIDForName(name), Name: strings.TrimSpace(name)}}, nil
}

// SetEnabled decides switching the workspace on or off. Asking for the state
// it is already in decides nothing: the operator's intent holds either way,
// and a repeated command (a retried script) must not fail or pad the log.
func (w *Workspace) SetEnabled(enabled bool) ([]Event, error) {
	if !w.Exists() {
		return nil, ErrNotFound
	}
	switch {
	case enabled == !w.Disabled:
		return nil, nil
	case enabled:
		return []Event{WorkspaceEnabled{WorkspaceID: w.ID}}, nil
	default:
		return []Event{WorkspaceDisabled{WorkspaceID: w.ID}}, nil
	}
}
