package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// CreateAPI opens a new API (keyspace) in the caller's workspace.
type CreateAPI struct{ Log EventLog }

// NewCreateAPI builds the use case.
func NewCreateAPI(log EventLog) *CreateAPI { return &CreateAPI{Log: log} }

// Handle returns the new API's ID.
func (h *CreateAPI) Handle(ctx context.Context, p *Principal, name string) (string, error) {
	if err := p.RequireAny("api.*.create_api"); err != nil {
		return "", err
	}
	created := events.APICreated{APIID: NewID("api"), KeySpaceID: NewID("ks"), WorkspaceID: p.WorkspaceID, Name: name}
	var api events.API
	decided, err := api.Create(created)
	if err != nil {
		return "", Internal("deciding api creation", err)
	}
	if _, err := h.Log.Append(ctx, events.APIStreamID(created.APIID), 0, metaFor(ctx, p), decided...); err != nil {
		return "", Internal("appending api.created", err)
	}
	return created.APIID, nil
}
