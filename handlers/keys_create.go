package handlers

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/apicache"
	"github.com/keyline/keyline/handlers/services/keyring"
)

// CreateKeyInput is the body of keys.createKey.
type CreateKeyInput struct {
	APIID       string
	Prefix      string
	Name        string
	ByteLength  int
	ExternalID  string
	Meta        json.RawMessage
	Roles       []string
	Permissions []string
	Expires     *int64
	Credits     *CreditsInput
	Ratelimits  []RatelimitInput
	Enabled     *bool
	Recoverable bool
}

// CreatedKey is a new key with its plaintext, shown exactly once.
type CreatedKey struct {
	KeyID string `json:"keyId"`
	Key   string `json:"key"`
}

// CreateKeyResult is what CreateKey answers.
type CreateKeyResult = CreatedKey

// CreateKey issues a key into an API.
type CreateKey struct {
	Log    EventLog
	Reader KeyReader
	// APIs spares every createKey the apis read; it follows the log, so a
	// deleted API is refused on this node as soon as its deletion commits.
	APIs *apicache.Cache
	Ring *keyring.Keyring
}

// NewCreateKey builds the use case.
func NewCreateKey(log EventLog, r KeyReader, apis *apicache.Cache, ring *keyring.Keyring) *CreateKey {
	return &CreateKey{Log: log, Reader: r, APIs: apis, Ring: ring}
}

const specifiedAPINotFound = "The specified API was not found."

// Handle looks the API up first and masks a missing create permission as the
// same 404, as Unkey does, so callers cannot probe for API IDs.
func (h *CreateKey) Handle(ctx context.Context, p *Principal, in CreateKeyInput) (CreateKeyResult, error) {
	api, err := h.APIs.API(ctx, p.WorkspaceID, in.APIID)
	if errors.Is(err, events.ErrNotFound) {
		return CreatedKey{}, Fail(CodeAPINotFound, specifiedAPINotFound)
	}
	if err != nil {
		return CreatedKey{}, Internal("reading api", err)
	}
	if p.RequireAny(keySpacePerms(p, api.ID, api.KeySpaceID, "create_key")...) != nil {
		return CreatedKey{}, Fail(CodeAPINotFound, specifiedAPINotFound)
	}
	if in.Recoverable {
		if err := p.RequireAny(keyPerms(p, api.ID, api.KeySpaceID, "*", "encrypt_key")...); err != nil {
			return CreatedKey{}, err
		}
		if !h.Ring.Ready() {
			return CreatedKey{}, Fail(CodePreconditionFailed, vaultMissingDetail)
		}
	}
	if err := validateCredits(in.Credits, false); err != nil {
		return CreatedKey{}, err
	}
	roleIDs, _, err := resolveRoles(ctx, h.Reader, p.WorkspaceID, in.Roles)
	if err != nil {
		return CreatedKey{}, err
	}
	permIDs, err := resolvePermissions(ctx, h.Reader, h.Log, p, in.Permissions, createMissing)
	if err != nil {
		return CreatedKey{}, err
	}
	identityID := ""
	if in.ExternalID != "" {
		if identityID, err = ensureIdentity(ctx, h.Reader, h.Log, p, in.ExternalID); err != nil {
			return CreatedKey{}, err
		}
	}
	byteLength := in.ByteLength
	if byteLength == 0 {
		byteLength = 16
	}
	plaintext, start := NewSecret(in.Prefix, byteLength)
	c := events.KeyCreated{KeyID: NewID("key"), WorkspaceID: p.WorkspaceID, APIID: api.ID, KeySpaceID: api.KeySpaceID,
		Hash: events.HashKey(plaintext), Start: start, Name: in.Name, Meta: in.Meta, IdentityID: identityID,
		Enabled: in.Enabled == nil || *in.Enabled, Expires: in.Expires, PermissionIDs: permIDs, RoleIDs: roleIDs,
		Ratelimits: newRatelimits(in.Ratelimits, nil)}
	if in.Credits != nil {
		c.Remaining, c.Refill = in.Credits.Remaining, in.Credits.Refill
	}
	if in.Recoverable {
		if c.Encrypted, err = h.Ring.Seal(c.KeyID, plaintext); err != nil {
			return CreatedKey{}, Internal("encrypting key", err)
		}
	}
	var k events.Key
	decided, err := k.Create(c)
	if err != nil {
		return CreatedKey{}, Internal("deciding key creation", err)
	}
	if _, err := h.Log.Append(ctx, events.KeyStreamID(c.KeyID), 0, metaFor(ctx, p), decided...); err != nil {
		return CreatedKey{}, Internal("appending key.created", err)
	}
	return CreatedKey{KeyID: c.KeyID, Key: plaintext}, nil
}
