package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
)

// PortalListKeysInput is portal.listKeys' body.
type PortalListKeysInput struct {
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
}

// PortalListKeys lists the session's end user's keys within the portal's
// APIs: the portal-scoped apis.listKeys. Identity and APIs come from the
// session alone, so there is nothing in the body to widen them with.
type PortalListKeys struct {
	Reader PortalReader
	Ring   *keyring.Keyring
}

// NewPortalListKeys builds the use case.
func NewPortalListKeys(r PortalReader, ring *keyring.Keyring) *PortalListKeys {
	return &PortalListKeys{Reader: r, Ring: ring}
}

// PortalListKeysResult is one page of the end user's own keys.
type PortalListKeysResult = ListKeysResult

// Handle needs the keys:read scope (403). An end user without an identity
// yet owns nothing: an empty page.
func (h *PortalListKeys) Handle(ctx context.Context, p *Principal, in PortalListKeysInput) (PortalListKeysResult, error) {
	owner, err := sessionOwner(ctx, h.Reader, p, events.PortalScopeKeysRead)
	if err != nil || !owner.Owns {
		return PortalListKeysResult{Keys: []KeyData{}}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := h.Reader.KeysOfOwner(ctx, owner.APIIDs, owner.IdentityID, in.Cursor, limit)
	if err != nil {
		return PortalListKeysResult{}, Internal("listing portal keys", err)
	}
	page := PortalListKeysResult{}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	if page.Keys, err = keyData(ctx, h.Reader, h.Ring, rows, false); err != nil {
		return PortalListKeysResult{}, err
	}
	return page, nil
}
