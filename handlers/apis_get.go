package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// APIReader is the read model of APIs.
type APIReader interface {
	API(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error)
}

const apiNotFoundDetail = "The requested API does not exist or has been deleted."

// GetAPIInput is the input of GetAPI.
type GetAPIInput struct {
	APIID string
}

// GetAPIResult is what GetAPI answers.
type GetAPIResult = projections.APIRow

// GetAPI reads one API. Authorization comes first, as in Unkey, so a caller
// without read rights learns nothing about which IDs exist.
type GetAPI struct{ Reader APIReader }

// NewGetAPI builds the use case.
func NewGetAPI(r APIReader) *GetAPI { return &GetAPI{Reader: r} }

// Handle returns the API's ID and name.
func (h *GetAPI) Handle(ctx context.Context, p *Principal, in GetAPIInput) (GetAPIResult, error) {
	apiID := in.APIID
	if err := p.RequireAny("api.*.read_api", "api."+apiID+".read_api"); err != nil {
		return projections.APIRow{}, err
	}
	return lookupAPI(ctx, h.Reader, p.WorkspaceID, apiID)
}

func lookupAPI(ctx context.Context, r APIReader, workspaceID, apiID string) (projections.APIRow, error) {
	row, err := r.API(ctx, workspaceID, apiID)
	if errors.Is(err, events.ErrNotFound) {
		return row, Fail(CodeAPINotFound, apiNotFoundDetail)
	}
	if err != nil {
		return row, Internal("reading api", err)
	}
	return row, nil
}
