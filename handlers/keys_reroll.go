package handlers

import (
	"context"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
)

// RerollKeyInput is the input of RerollKey.
type RerollKeyInput struct {
	KeyID      string
	Expiration int64
}

// RerollKeyResult is what RerollKey answers.
type RerollKeyResult = CreatedKey

// RerollKey replaces a key with a new one holding a copy of its settings and
// retires the old one after a grace period.
type RerollKey struct {
	Log    EventLog
	Reader KeyReader
	Ring   *keyring.Keyring
	now    func() time.Time
}

// NewRerollKey builds the use case.
func NewRerollKey(log EventLog, r KeyReader, ring *keyring.Keyring) *RerollKey {
	return &RerollKey{Log: log, Reader: r, Ring: ring, now: time.Now}
}

// Handle: lookup (404) → create_key, plus encrypt_key for a recoverable key
// (403) → the new key (no expiry, same prefix) → the old key's expiry, now +
// expiration rounded up to the next whole minute (0 = at once), as Unkey does.
func (h *RerollKey) Handle(ctx context.Context, p *Principal, in RerollKeyInput) (RerollKeyResult, error) {
	keyID := in.KeyID
	expiration := in.Expiration
	old, err := lookupKeyForUpdate(ctx, h.Log, p, keyID)
	if err != nil {
		return CreatedKey{}, err
	}
	if err := p.RequireAny(keySpacePerms(p, old.APIID, old.KeySpaceID, "create_key")...); err != nil {
		return CreatedKey{}, err
	}
	if old.Encrypted != nil {
		if err := p.RequireAny(keyPerms(p, old.APIID, old.KeySpaceID, "*", "encrypt_key")...); err != nil {
			return CreatedKey{}, err
		}
		if !h.Ring.Ready() {
			return CreatedKey{}, Fail(CodePreconditionFailed, vaultMissingDetail)
		}
	}
	prefix := ""
	if n := len(old.Start); n > 5 && old.Start[n-5] == '_' {
		prefix = old.Start[:n-5]
	}
	plaintext, start := NewSecret(prefix, 16)
	c := events.KeyCreated{KeyID: NewID("key"), WorkspaceID: old.WorkspaceID, APIID: old.APIID, KeySpaceID: old.KeySpaceID,
		Hash: events.HashKey(plaintext), Start: start, Name: old.Name, Meta: old.Meta, IdentityID: old.IdentityID,
		Enabled: old.Enabled, PermissionIDs: old.Permissions, RoleIDs: old.Roles, Ratelimits: old.Ratelimits, RerolledFrom: old.ID}
	if old.Limited {
		row, _, err := h.Reader.Credits(ctx, old.ID)
		if err != nil {
			return CreatedKey{}, Internal("reading credits", err)
		}
		c.Remaining, c.Refill = row.Remaining, old.Refill
	}
	if old.Encrypted != nil {
		if c.Encrypted, err = h.Ring.Seal(c.KeyID, plaintext); err != nil {
			return CreatedKey{}, Internal("encrypting key", err)
		}
	}
	var fresh events.Key
	decided, err := fresh.Create(c)
	if err != nil {
		return CreatedKey{}, Internal("deciding key creation", err)
	}
	if _, err := h.Log.Append(ctx, events.KeyStreamID(c.KeyID), 0, metaFor(ctx, p), decided...); err != nil {
		return CreatedKey{}, Internal("appending key.created", err)
	}
	expires := h.now().UnixMilli()
	if expiration > 0 {
		expires += expiration
		if rem := expires % 60000; rem != 0 {
			expires += 60000 - rem
		}
	}
	if _, err := appendToKey(ctx, h.Log, p, keyID, func(k *events.Key) ([]events.Event, error) {
		return k.Reroll(p.WorkspaceID, c.KeyID, expires)
	}); err != nil {
		return CreatedKey{}, err
	}
	return CreatedKey{KeyID: c.KeyID, Key: plaintext}, nil
}
