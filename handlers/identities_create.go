package handlers

import (
	"context"
	"encoding/json"
	"errors"
)

// CreateIdentityInput is the input of CreateIdentity.
type CreateIdentityInput struct {
	ExternalID string
	Meta       json.RawMessage
	Ratelimits []RatelimitInput
}

// CreateIdentityResult is what CreateIdentity answers.
type CreateIdentityResult struct{ IdentityID string }

// CreateIdentity opens an identity for an externalId of the workspace.
type CreateIdentity struct{ Log EventLog }

// NewCreateIdentity builds the use case.
func NewCreateIdentity(log EventLog) *CreateIdentity { return &CreateIdentity{Log: log} }

// Handle: authz (403) → input rules (400) → the externalId's stream decides
// uniqueness among live identities (409), also against a racing creator.
func (h *CreateIdentity) Handle(ctx context.Context, p *Principal, in CreateIdentityInput) (CreateIdentityResult, error) {
	externalID := in.ExternalID
	meta := in.Meta
	rls := in.Ratelimits
	if err := p.RequireAny(identityPerms(p, "", "create_identity")...); err != nil {
		return CreateIdentityResult{}, err
	}
	if err := checkIdentityInput(meta, rls); err != nil {
		return CreateIdentityResult{}, err
	}
	id, err := createIdentity(ctx, h.Log, p, externalID, meta, newRatelimits(rls, nil))
	var exists *existsError
	if errors.As(err, &exists) {
		return CreateIdentityResult{}, Fail(CodeIdentityAlreadyExists, "Identity with externalId '"+externalID+"' already exists in this workspace.")
	}
	return CreateIdentityResult{IdentityID: id}, err
}
