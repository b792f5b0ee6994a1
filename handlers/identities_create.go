package handlers

import (
	"context"
	"encoding/json"
	"errors"
)

// CreateIdentity opens an identity for an externalId of the workspace.
type CreateIdentity struct{ Log EventLog }

// NewCreateIdentity builds the use case.
func NewCreateIdentity(log EventLog) *CreateIdentity { return &CreateIdentity{Log: log} }

// Handle: authz (403) → input rules (400) → the externalId's stream decides
// uniqueness among live identities (409), also against a racing creator.
func (h *CreateIdentity) Handle(ctx context.Context, p *Principal, externalID string, meta json.RawMessage, rls []RatelimitInput) (string, error) {
	if err := p.RequireAny(identityPerms(p, "", "create_identity")...); err != nil {
		return "", err
	}
	if err := checkIdentityInput(meta, rls); err != nil {
		return "", err
	}
	id, err := createIdentity(ctx, h.Log, p, externalID, meta, newRatelimits(rls, nil))
	var exists *existsError
	if errors.As(err, &exists) {
		return "", Fail(CodeIdentityAlreadyExists, "Identity with externalId '"+externalID+"' already exists in this workspace.")
	}
	return id, err
}
