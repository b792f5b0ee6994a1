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
func init()                                { register(func() Event { return &WorkspaceCreated{} }) }

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
	ID      string
	Name    string
	Version int64
}

// Exists reports whether the stream holds a creation event.
func (w *Workspace) Exists() bool { return w.Version > 0 }

// Apply folds one event into the state.
func (w *Workspace) Apply(e Event) {
	if c, ok := e.(WorkspaceCreated); ok {
		w.ID, w.Name = c.WorkspaceID, c.Name
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
