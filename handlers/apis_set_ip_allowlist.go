package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyline/keyline/events"
)

// SetAPIIPAllowlistInput is the input of SetAPIIPAllowlist.
type SetAPIIPAllowlistInput struct {
	APIID string
	IPs   []string
}

// SetAPIIPAllowlist replaces the addresses keys.verifyKey accepts requests
// from for one API's keys: `keyline apis allow-ips`. Unkey sets its
// ip_whitelist from the dashboard only, so this is an operator's command
// with no principal; the API ID alone names the API.
type SetAPIIPAllowlist struct{ Log EventLog }

// NewSetAPIIPAllowlist builds the use case.
func NewSetAPIIPAllowlist(log EventLog) *SetAPIIPAllowlist { return &SetAPIIPAllowlist{Log: log} }

// SetAPIIPAllowlistResult is what the command reports: the list as stored (canonical,
// sorted; empty means no restriction) and whether this call changed it.
type SetAPIIPAllowlistResult struct {
	APIID       string   `json:"apiId"`
	WorkspaceID string   `json:"workspaceId"`
	IPs         []string `json:"ips"`
	Changed     bool     `json:"changed"`
}

// Handle (an operator command: p is nil and unused) sets apiID's allow-list to ips; an empty list lifts it.
func (h *SetAPIIPAllowlist) Handle(ctx context.Context, p *Principal, in SetAPIIPAllowlistInput) (SetAPIIPAllowlistResult, error) {
	apiID := in.APIID
	ips := in.IPs
	var changed bool
	meta := events.Metadata{ActorID: "cli"}
	api, err := update(ctx, h.Log, events.APIStreamID(apiID), &meta, "api", func(api *events.API) ([]events.Event, error) {
		// No principal: the events belong to the API's own workspace.
		meta.WorkspaceID = api.WorkspaceID
		decided, err := api.SetIPAllowlist(ips)
		var invalid *events.InvalidIPError
		switch {
		case errors.Is(err, events.ErrNotFound):
			return nil, Fail(CodeAPINotFound, fmt.Sprintf("API %q does not exist or has been deleted", apiID))
		case errors.As(err, &invalid):
			return nil, Fail(CodeInvalidInput, invalid.Error())
		case err != nil:
			return nil, Internal("deciding ip allow-list", err)
		}
		changed = len(decided) > 0
		return decided, nil
	})
	if err != nil {
		return SetAPIIPAllowlistResult{}, err
	}
	out := SetAPIIPAllowlistResult{APIID: api.ID, WorkspaceID: api.WorkspaceID, IPs: api.IPAllowlist, Changed: changed}
	if out.IPs == nil {
		out.IPs = []string{}
	}
	return out, nil
}
