package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

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
func (h *DeleteIdentity) Handle(ctx context.Context, p *Principal, ref string) error {
	if err := p.RequireAny(identityPerms(p, "", "delete_identity")...); err != nil {
		return err
	}
	row, err := lookupIdentity(ctx, h.Reader, p, ref)
	if err != nil {
		return err
	}
	_, err = appendToIdentity(ctx, h.Log, p, row.ExternalID, func(i *events.Identity) ([]events.Event, error) {
		if i.ID != row.ID {
			return nil, events.ErrNotFound
		}
		return i.Delete(p.WorkspaceID)
	})
	return err
}
