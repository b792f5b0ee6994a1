package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// CreateAPIInput is the input of CreateAPI.
type CreateAPIInput struct {
	Name string
}

// CreateAPIResult is what CreateAPI answers.
type CreateAPIResult struct{ APIID string }

// CreateAPI opens a new API (keyspace) in the caller's workspace.
type CreateAPI struct{ Log EventLog }

// NewCreateAPI builds the use case.
func NewCreateAPI(log EventLog) *CreateAPI { return &CreateAPI{Log: log} }

// Handle returns the new API's ID.
func (h *CreateAPI) Handle(ctx context.Context, p *Principal, in CreateAPIInput) (CreateAPIResult, error) {
	name := in.Name
	if err := p.RequireAny("api.*.create_api"); err != nil {
		return CreateAPIResult{}, err
	}
	created := events.APICreated{APIID: NewID("api"), KeySpaceID: NewID("ks"), WorkspaceID: p.WorkspaceID, Name: name}
	var api events.API
	decided, err := api.Create(created)
	if err != nil {
		return CreateAPIResult{}, Internal("deciding api creation", err)
	}
	if _, err := h.Log.Append(ctx, events.APIStreamID(created.APIID), 0, metaFor(ctx, p), decided...); err != nil {
		return CreateAPIResult{}, Internal("appending api.created", err)
	}
	return CreateAPIResult{APIID: created.APIID}, nil
}
