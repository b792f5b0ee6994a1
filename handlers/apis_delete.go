package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// DeleteAPIInput is the input of DeleteAPI.
type DeleteAPIInput struct {
	APIID string
}

// DeleteAPIResult is what DeleteAPI answers.
type DeleteAPIResult struct{}

// DeleteAPI soft-deletes an API: authorization, then lookup (404), then the
// delete guard (412), the order Unkey checks them in.
type DeleteAPI struct{ Log EventLog }

// NewDeleteAPI builds the use case.
func NewDeleteAPI(log EventLog) *DeleteAPI { return &DeleteAPI{Log: log} }

// Handle deletes apiID.
func (h *DeleteAPI) Handle(ctx context.Context, p *Principal, in DeleteAPIInput) (DeleteAPIResult, error) {
	apiID := in.APIID
	if err := p.RequireAny("api.*.delete_api", "api."+apiID+".delete_api"); err != nil {
		return DeleteAPIResult{}, err
	}
	// A concurrent delete of the same API moves the stream under us; deciding
	// again on the fresh state turns the loser into the expected 404.
	meta := metaFor(ctx, p)
	_, err := update(ctx, h.Log, events.APIStreamID(apiID), &meta, "api", func(api *events.API) ([]events.Event, error) {
		decided, err := api.Delete(p.WorkspaceID)
		switch {
		case errors.Is(err, events.ErrNotFound):
			return nil, Fail(CodeAPINotFound, apiNotFoundDetail)
		case errors.Is(err, events.ErrDeleteProtected):
			return nil, Fail(CodeProtectedResource, "This API has delete protection enabled. Disable it before attempting to delete.")
		case err != nil:
			return nil, Internal("deciding api deletion", err)
		}
		return decided, nil
	})
	return DeleteAPIResult{}, err
}
