package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// DeleteIdentityInput is the input of DeleteIdentity.
type DeleteIdentityInput struct {
	Identity string
}

// DeleteIdentityResult is what DeleteIdentity answers.
type DeleteIdentityResult struct{}

// DeleteIdentity soft-deletes an identity; its externalId is free again.
type DeleteIdentity struct {
	Log    EventLog
	Reader IdentityReader
}

// NewDeleteIdentity builds the use case.
func NewDeleteIdentity(log EventLog, r IdentityReader) *DeleteIdentity {
	return &DeleteIdentity{Log: log, Reader: r}
}

// Handle: authz (403) → lookup (404; a second delete lands here) → append.
func (h *DeleteIdentity) Handle(ctx context.Context, p *Principal, in DeleteIdentityInput) (DeleteIdentityResult, error) {
	ref := in.Identity
	if err := p.RequireAny(identityPerms(p, "", "delete_identity")...); err != nil {
		return DeleteIdentityResult{}, err
	}
	row, err := lookupIdentity(ctx, h.Reader, p, ref)
	if err != nil {
		return DeleteIdentityResult{}, err
	}
	_, err = appendToIdentity(ctx, h.Log, p, row.ExternalID, func(i *events.Identity) ([]events.Event, error) {
		if i.ID != row.ID {
			return nil, events.ErrNotFound
		}
		return i.Delete(p.WorkspaceID)
	})
	return DeleteIdentityResult{}, err
}
