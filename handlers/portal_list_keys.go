package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
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
	Ring   *Keyring
}

// NewPortalListKeys builds the use case.
func NewPortalListKeys(r PortalReader, ring *Keyring) *PortalListKeys {
	return &PortalListKeys{Reader: r, Ring: ring}
}

// Handle needs the keys:read scope (403). An end user without an identity
// yet owns nothing: an empty page.
func (h *PortalListKeys) Handle(ctx context.Context, p *Principal, in PortalListKeysInput) (KeyPage, error) {
	if _, err := portalOnly(p, events.PortalScopeKeysRead); err != nil {
		return KeyPage{}, err
	}
	identityID, apiIDs, ok, err := portalOwner(ctx, h.Reader, p)
	if err != nil || !ok {
		return KeyPage{Keys: []KeyData{}}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := h.Reader.KeysOfOwner(ctx, apiIDs, identityID, in.Cursor, limit)
	if err != nil {
		return KeyPage{}, Internal("listing portal keys", err)
	}
	page := KeyPage{}
	if len(rows) > limit {
		page.HasMore, page.Cursor = true, rows[limit].ID
		rows = rows[:limit]
	}
	if page.Keys, err = keyData(ctx, h.Reader, h.Ring, rows, false); err != nil {
		return KeyPage{}, err
	}
	return page, nil
}
