package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyline/keyline/events"
)

// SetWorkspaceEnabled switches a workspace off or on again: `keyline
// workspace disable|enable`. Unkey does this from its dashboard and its
// HTTP API has no endpoint for it, so it is an operator's command with no
// principal. While disabled, every key of the workspace verifies as
// FORBIDDEN and its root keys get 403 workspace_disabled elsewhere.
type SetWorkspaceEnabled struct{ Log EventLog }

// NewSetWorkspaceEnabled builds the use case.
func NewSetWorkspaceEnabled(log EventLog) *SetWorkspaceEnabled { return &SetWorkspaceEnabled{Log: log} }

// WorkspaceState is what the command reports: the workspace, whether it is
// enabled now, and whether this call changed that (a repeat does not).
type WorkspaceState struct {
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Changed     bool   `json:"changed"`
}

// Handle sets the workspace called name to enabled. An unknown name is an
// error, never a new workspace.
func (h *SetWorkspaceEnabled) Handle(ctx context.Context, name string, enabled bool) (WorkspaceState, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return WorkspaceState{}, Fail(CodeInvalidInput, "workspace name must not be empty")
	}
	id := events.WorkspaceIDForName(name)
	stream := events.WorkspaceStreamID(id)
	for attempt := 0; ; attempt++ {
		var ws events.Workspace
		if err := fold(ctx, h.Log, stream, ws.Apply); err != nil {
			return WorkspaceState{}, Internal("loading workspace", err)
		}
		decided, err := ws.SetEnabled(enabled)
		if errors.Is(err, events.ErrNotFound) {
			return WorkspaceState{}, Fail(CodeWorkspaceNotFound, fmt.Sprintf("workspace %q does not exist", name))
		}
		if err != nil {
			return WorkspaceState{}, Internal("deciding workspace switch", err)
		}
		state := WorkspaceState{WorkspaceID: ws.ID, Name: ws.Name, Enabled: enabled, Changed: len(decided) > 0}
		if len(decided) == 0 {
			return state, nil
		}
		_, err = h.Log.Append(ctx, stream, ws.Version, events.Metadata{WorkspaceID: ws.ID, ActorID: "cli"}, decided...)
		if errors.Is(err, events.ErrVersionConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return WorkspaceState{}, Internal("appending workspace switch", err)
		}
		return state, nil
	}
}
