package handlers

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/keyline/keyline/events"
)

// MigrateKeyInput is one key of keys.migrateKeys: its hash in the system it
// comes from and the settings it gets here.
type MigrateKeyInput struct {
	Hash        string          `json:"hash"`
	Name        string          `json:"name"`
	ExternalID  string          `json:"externalId"`
	Meta        json.RawMessage `json:"meta"`
	Roles       []string        `json:"roles"`
	Permissions []string        `json:"permissions"`
	Expires     *int64          `json:"expires"`
	Enabled     *bool           `json:"enabled"`
	Credits     *struct {
		Remaining *int64         `json:"remaining"`
		Refill    *events.Refill `json:"refill"`
	} `json:"credits"`
	Ratelimits []RatelimitInput `json:"ratelimits"`
}

// MigrateKeysResult is the answer of keys.migrateKeys.
type MigrateKeysResult struct {
	Migrated []MigratedKey `json:"migrated"`
	Failed   []string      `json:"failed"`
}

// MigratedKey pairs an imported hash with its new key ID.
type MigratedKey struct {
	Hash  string `json:"hash"`
	KeyID string `json:"keyId"`
}

// MigrateKeysInput is the input of MigrateKeys.
type MigrateKeysInput struct {
	MigrationID string
	APIID       string
	Keys        []MigrateKeyInput
}

// MigrateKeys imports keys by their foreign hash. They verify once their
// owner presents the plaintext with the migration ID (see VerifyKey.migrate).
type MigrateKeys struct {
	Log        EventLog
	Reader     KeyReader
	Migrations *Migrations
}

// NewMigrateKeys builds the use case.
func NewMigrateKeys(log EventLog, r KeyReader, migrations *Migrations) *MigrateKeys {
	return &MigrateKeys{Log: log, Reader: r, Migrations: migrations}
}

// Handle imports keys; a hash that is already known is reported as failed.
// Unkey's order: permission (403), API (404), migration (404).
func (h *MigrateKeys) Handle(ctx context.Context, p *Principal, in MigrateKeysInput) (MigrateKeysResult, error) {
	migrationID := in.MigrationID
	apiID := in.APIID
	keys := in.Keys
	if err := p.RequireAny("api.*.create_key", "api."+apiID+".create_key"); err != nil {
		return MigrateKeysResult{}, err
	}
	api, err := lookupAPI(ctx, h.Reader, p.WorkspaceID, apiID)
	if err != nil {
		return MigrateKeysResult{}, err
	}
	if _, ok := h.Migrations.Algorithm(migrationID); !ok {
		return MigrateKeysResult{}, Fail(CodeMigrationNotFound, migrationNotFoundDetail)
	}
	out := MigrateKeysResult{Migrated: []MigratedKey{}, Failed: []string{}}
	for _, in := range keys {
		if _, err := h.Reader.KeyByHash(ctx, in.Hash); err == nil {
			out.Failed = append(out.Failed, in.Hash)
			continue
		} else if !errors.Is(err, events.ErrNotFound) {
			return MigrateKeysResult{}, Internal("checking migrated hash", err)
		}
		if in.Credits != nil {
			if err := validateCredits(&CreditsInput{Remaining: in.Credits.Remaining, Refill: in.Credits.Refill}, false); err != nil {
				return MigrateKeysResult{}, err
			}
		}
		roleIDs, _, err := resolveRoles(ctx, h.Reader, p.WorkspaceID, in.Roles)
		if err != nil {
			return MigrateKeysResult{}, err
		}
		permIDs, err := resolvePermissions(ctx, h.Reader, h.Log, p, in.Permissions, createMissing)
		if err != nil {
			return MigrateKeysResult{}, err
		}
		identityID := ""
		if in.ExternalID != "" {
			if identityID, err = ensureIdentity(ctx, h.Reader, h.Log, p, in.ExternalID); err != nil {
				return MigrateKeysResult{}, err
			}
		}
		c := events.KeyCreated{KeyID: NewID("key"), WorkspaceID: p.WorkspaceID, APIID: api.ID, KeySpaceID: api.KeySpaceID,
			Hash: in.Hash, Name: in.Name, Meta: in.Meta, IdentityID: identityID, Enabled: in.Enabled == nil || *in.Enabled,
			Expires: in.Expires, PermissionIDs: permIDs, RoleIDs: roleIDs, Ratelimits: newRatelimits(in.Ratelimits, nil),
			PendingMigrationID: migrationID}
		if in.Credits != nil {
			c.Remaining, c.Refill = in.Credits.Remaining, in.Credits.Refill
		}
		var k events.Key
		decided, err := k.Create(c)
		if err != nil {
			return MigrateKeysResult{}, Internal("deciding key creation", err)
		}
		if _, err := h.Log.Append(ctx, events.KeyStreamID(c.KeyID), 0, metaFor(ctx, p), decided...); err != nil {
			// A concurrent import of the same hash loses on the unique hash.
			out.Failed = append(out.Failed, in.Hash)
			continue
		}
		out.Migrated = append(out.Migrated, MigratedKey{Hash: in.Hash, KeyID: c.KeyID})
	}
	return out, nil
}
