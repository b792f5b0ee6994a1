package handlers

import (
	"context"

	"github.com/keyline/keyline/events"
)

// PortalRerollKeyInput is portal.rerollKey's body (Unkey's
// V2KeysRerollKeyRequestBody).
type PortalRerollKeyInput struct {
	KeyID      string `json:"keyId"`
	Expiration int64  `json:"expiration"`
}

// PortalRerollKey rerolls a key the session's end user owns: the
// portal-scoped keys.rerollKey.
type PortalRerollKey struct {
	Reader PortalReader
	Reroll *RerollKey
}

// NewPortalRerollKey builds the use case over keys.rerollKey's.
func NewPortalRerollKey(r PortalReader, reroll *RerollKey) *PortalRerollKey {
	return &PortalRerollKey{Reader: r, Reroll: reroll}
}

// PortalRerollKeyResult is the new key, shown once.
type PortalRerollKeyResult = CreatedKey

// Handle needs the keys:reroll scope (403); any key but the end user's own
// within the portal's APIs is a 404. The reroll itself is keys.rerollKey's,
// run with the session's principal, whose tuples (create_key, and
// encrypt_key when its minter held it) were checked against the minting
// root key when the session was created. The new key keeps the identity,
// so it stays the end user's.
func (h *PortalRerollKey) Handle(ctx context.Context, p *Principal, in PortalRerollKeyInput) (PortalRerollKeyResult, error) {
	owner, err := sessionOwner(ctx, h.Reader, p, events.PortalScopeKeysReroll)
	if err != nil {
		return CreatedKey{}, err
	}
	if _, err := owner.key(ctx, h.Reader, p, in.KeyID); err != nil {
		return CreatedKey{}, err
	}
	return h.Reroll.Handle(ctx, p, RerollKeyInput{KeyID: in.KeyID, Expiration: in.Expiration})
}
