package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keycache"
	"github.com/keyline/keyline/projections"
)

// KeyReader is the read side the key use cases need. projections.Reader
// implements it.
type KeyReader interface {
	APIReader
	keycache.Reader
	Key(ctx context.Context, workspaceID, keyID string) (projections.KeyRow, error)
	KeysOfAPI(ctx context.Context, apiID, cursor, identityID string, filterIdentity bool, limit int) ([]projections.KeyRow, error)
	CreditsOf(ctx context.Context, keyIDs []string) (map[string]projections.KeyCreditsRow, error)
	SpendCredits(ctx context.Context, keyID, workspaceID string, cost int64) (remaining int64, spent bool, err error)
	IdentityByExternalID(ctx context.Context, workspaceID, externalID string) (projections.IdentityRow, error)
	PermissionsByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.PermissionRow, error)
	RolesByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.RoleRow, error)
}

const keyNotFoundDetail = "The specified key was not found."

// vaultMissingDetail is Unkey's 412 when a request needs the vault (here:
// the encryption keyring) and none is configured: creating or rerolling a
// recoverable key, decrypt on getKey and listKeys.
const vaultMissingDetail = "Vault hasn't been set up."

// loadKeyAggregate folds a key stream.
func loadKeyAggregate(ctx context.Context, log EventLog, keyID string) (*events.Key, error) {
	var k events.Key
	if err := fold(ctx, log, events.KeyStreamID(keyID), k.Apply); err != nil {
		return nil, Internal("loading key", err)
	}
	return &k, nil
}

// lookupKeyForUpdate loads a live key of the caller's workspace (404
// otherwise), then checks perm on the key's API: lookup first, then 403.
func lookupKeyForUpdate(ctx context.Context, log EventLog, p *Principal, keyID string, actions ...string) (*events.Key, error) {
	k, err := loadKeyAggregate(ctx, log, keyID)
	if err != nil {
		return nil, err
	}
	if !k.Live(p.WorkspaceID) {
		return nil, Fail(CodeKeyNotFoundData, keyNotFoundDetail)
	}
	for _, action := range actions {
		if err := p.RequireAny(keyPerms(p, k.APIID, k.KeySpaceID, k.ID, action)...); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// appendToKey runs decide on keyID's stream through the write loop; a
// decision of ErrNotFound (deleted meanwhile) is the key's 404.
func appendToKey(ctx context.Context, log EventLog, p *Principal, keyID string, decide func(k *events.Key) ([]events.Event, error)) (*events.Key, error) {
	meta := metaFor(ctx, p)
	return update(ctx, log, events.KeyStreamID(keyID), &meta, "key", func(k *events.Key) ([]events.Event, error) {
		evs, err := decide(k)
		if errors.Is(err, events.ErrNotFound) {
			return nil, Fail(CodeKeyNotFoundData, keyNotFoundDetail)
		}
		return evs, err
	})
}

// keyPerms lists the grants that each allow action on one key (keyID "*":
// any key of the keyspace): the API-wide and per-API legacy tuples, and the
// resource permission on the key, in the order Unkey names them in a 403.
func keyPerms(p *Principal, apiID, keySpaceID, keyID, action string) []string {
	return []string{"api.*." + action, "api." + apiID + "." + action, p.URN("keyspaces/"+keySpaceID+"/keys/"+keyID, action)}
}

// keySpacePerms is keyPerms for an action on the keyspace itself (create_key).
func keySpacePerms(p *Principal, apiID, keySpaceID, action string) []string {
	return []string{"api.*." + action, "api." + apiID + "." + action, p.URN("keyspaces/"+keySpaceID, action)}
}
