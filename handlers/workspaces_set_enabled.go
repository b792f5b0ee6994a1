package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyline/keyline/events"
)

// SetWorkspaceEnabledInput is the input of SetWorkspaceEnabled.
type SetWorkspaceEnabledInput struct {
	Name    string
	Enabled bool
}

// SetWorkspaceEnabled switches a workspace off or on again: `keyline
// workspace disable|enable`. Unkey does this from its dashboard and its
// HTTP API has no endpoint for it, so it is an operator's command with no
// principal. While disabled, every key of the workspace verifies as
// FORBIDDEN and its root keys get 403 workspace_disabled elsewhere.
type SetWorkspaceEnabled struct{ Log EventLog }

// NewSetWorkspaceEnabled builds the use case.
func NewSetWorkspaceEnabled(log EventLog) *SetWorkspaceEnabled { return &SetWorkspaceEnabled{Log: log} }

// SetWorkspaceEnabledResult is what the command reports: the workspace, whether it is
// enabled now, and whether this call changed that (a repeat does not).
type SetWorkspaceEnabledResult struct {
	WorkspaceID string `json:"workspaceId"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Changed     bool   `json:"changed"`
}

// Handle (an operator command: p is nil and unused) sets the workspace called name to enabled. An unknown name is an
// error, never a new workspace.
func (h *SetWorkspaceEnabled) Handle(ctx context.Context, p *Principal, in SetWorkspaceEnabledInput) (SetWorkspaceEnabledResult, error) {
	name := in.Name
	enabled := in.Enabled
	name = strings.TrimSpace(name)
	if name == "" {
		return SetWorkspaceEnabledResult{}, Fail(CodeInvalidInput, "workspace name must not be empty")
	}
	id := events.WorkspaceIDForName(name)
	stream := events.WorkspaceStreamID(id)
	var changed bool
	meta := events.Metadata{WorkspaceID: id, ActorID: "cli"}
	ws, err := update(ctx, h.Log, stream, &meta, "workspace", func(ws *events.Workspace) ([]events.Event, error) {
		decided, err := ws.SetEnabled(enabled)
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodeWorkspaceNotFound, fmt.Sprintf("workspace %q does not exist", name))
		}
		if err != nil {
			return nil, Internal("deciding workspace switch", err)
		}
		changed = len(decided) > 0
		return decided, nil
	})
	if err != nil {
		return SetWorkspaceEnabledResult{}, err
	}
	return SetWorkspaceEnabledResult{WorkspaceID: ws.ID, Name: ws.Name, Enabled: enabled, Changed: changed}, nil
}
