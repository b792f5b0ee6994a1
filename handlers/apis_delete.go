package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// DeleteAPI soft-deletes an API: authorization, then lookup (404), then the
// delete guard (412), the order Unkey checks them in.
type DeleteAPI struct{ Log EventLog }

// NewDeleteAPI builds the use case.
func NewDeleteAPI(log EventLog) *DeleteAPI { return &DeleteAPI{Log: log} }

// Handle deletes apiID.
func (h *DeleteAPI) Handle(ctx context.Context, p *Principal, apiID string) error {
	if err := p.RequireAny("api.*.delete_api", "api."+apiID+".delete_api"); err != nil {
		return err
	}
	// A concurrent delete of the same API moves the stream under us; deciding
	// again on the fresh state turns the loser into the expected 404.
	for attempt := 0; ; attempt++ {
		var api events.API
		if err := fold(ctx, h.Log, events.APIStreamID(apiID), api.Apply); err != nil {
			return Internal("loading api", err)
		}
		decided, err := api.Delete(p.WorkspaceID)
		switch {
		case errors.Is(err, events.ErrNotFound):
			return Fail(CodeAPINotFound, apiNotFoundDetail)
		case errors.Is(err, events.ErrDeleteProtected):
			return Fail(CodeProtectedResource, "This API has delete protection enabled. Disable it before attempting to delete.")
		case err != nil:
			return Internal("deciding api deletion", err)
		}
		_, err = h.Log.Append(ctx, events.APIStreamID(apiID), api.Version, metaFor(ctx, p), decided...)
		if errors.Is(err, events.ErrVersionConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Internal("appending api.deleted", err)
		}
		return nil
	}
}
