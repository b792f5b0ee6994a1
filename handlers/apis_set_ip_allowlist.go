package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyline/keyline/events"
)

// SetAPIIPAllowlist replaces the addresses keys.verifyKey accepts requests
// from for one API's keys: `keyline apis allow-ips`. Unkey sets its
// ip_whitelist from the dashboard only, so this is an operator's command
// with no principal; the API ID alone names the API.
type SetAPIIPAllowlist struct{ Log EventLog }

// NewSetAPIIPAllowlist builds the use case.
func NewSetAPIIPAllowlist(log EventLog) *SetAPIIPAllowlist { return &SetAPIIPAllowlist{Log: log} }

// APIIPAllowlist is what the command reports: the list as stored (canonical,
// sorted; empty means no restriction) and whether this call changed it.
type APIIPAllowlist struct {
	APIID       string   `json:"apiId"`
	WorkspaceID string   `json:"workspaceId"`
	IPs         []string `json:"ips"`
	Changed     bool     `json:"changed"`
}

// Handle sets apiID's allow-list to ips; an empty list lifts it.
func (h *SetAPIIPAllowlist) Handle(ctx context.Context, apiID string, ips []string) (APIIPAllowlist, error) {
	stream := events.APIStreamID(apiID)
	for attempt := 0; ; attempt++ {
		var api events.API
		if err := fold(ctx, h.Log, stream, api.Apply); err != nil {
			return APIIPAllowlist{}, Internal("loading api", err)
		}
		decided, err := api.SetIPAllowlist(ips)
		var invalid *events.InvalidIPError
		switch {
		case errors.Is(err, events.ErrNotFound):
			return APIIPAllowlist{}, Fail(CodeAPINotFound, fmt.Sprintf("API %q does not exist or has been deleted", apiID))
		case errors.As(err, &invalid):
			return APIIPAllowlist{}, Fail(CodeInvalidInput, invalid.Error())
		case err != nil:
			return APIIPAllowlist{}, Internal("deciding ip allow-list", err)
		}
		if len(decided) > 0 {
			_, err = h.Log.Append(ctx, stream, api.Version, events.Metadata{WorkspaceID: api.WorkspaceID, ActorID: "cli"}, decided...)
			if errors.Is(err, events.ErrVersionConflict) && attempt < 3 {
				continue
			}
			if err != nil {
				return APIIPAllowlist{}, Internal("appending api.ip_allowlist_set", err)
			}
			for _, e := range decided {
				api.Apply(e)
			}
		}
		out := APIIPAllowlist{APIID: api.ID, WorkspaceID: api.WorkspaceID, IPs: api.IPAllowlist, Changed: len(decided) > 0}
		if out.IPs == nil {
			out.IPs = []string{}
		}
		return out, nil
	}
}
