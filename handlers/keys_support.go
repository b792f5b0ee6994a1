package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/keyring"
	"github.com/keyline/keyline/projections"
)

// KeyReader is the read side the key use cases need. projections.Reader
// implements it.
type KeyReader interface {
	APIReader
	Key(ctx context.Context, workspaceID, keyID string) (projections.KeyRow, error)
	KeyByHash(ctx context.Context, hash string) (projections.KeyRow, error)
	KeysOfAPI(ctx context.Context, apiID, cursor, identityID string, filterIdentity bool, limit int) ([]projections.KeyRow, error)
	KeyAccess(ctx context.Context, keyIDs []string) (map[string]*projections.KeyAccess, error)
	Credits(ctx context.Context, keyID string) (projections.KeyCreditsRow, bool, error)
	CreditsOf(ctx context.Context, keyIDs []string) (map[string]projections.KeyCreditsRow, error)
	SpendCredits(ctx context.Context, keyID, workspaceID string, cost int64) (remaining int64, spent bool, err error)
	Identity(ctx context.Context, id string) (projections.IdentityRow, error)
	IdentityByExternalID(ctx context.Context, workspaceID, externalID string) (projections.IdentityRow, error)
	PermissionsByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.PermissionRow, error)
	RolesByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.RoleRow, error)
	Workspace(ctx context.Context, id string) (projections.WorkspaceRow, error)
	APIForCache(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error)
}

const keyNotFoundDetail = "The specified key was not found."

// vaultMissingDetail is Unkey's 412 when a request needs the vault (here:
// the encryption keyring) and none is configured: creating or rerolling a
// recoverable key, decrypt on getKey and listKeys.
const vaultMissingDetail = "Vault hasn't been set up."

// KeyData is Unkey's KeyResponseData: empty optional fields are omitted.
type KeyData struct {
	KeyID       string          `json:"keyId"`
	Start       string          `json:"start"`
	Enabled     bool            `json:"enabled"`
	Name        string          `json:"name,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	CreatedAt   int64           `json:"createdAt"`
	UpdatedAt   int64           `json:"updatedAt,omitempty"`
	Expires     *int64          `json:"expires,omitempty"`
	Permissions []string        `json:"permissions,omitempty"`
	Roles       []string        `json:"roles,omitempty"`
	Credits     *CreditsData    `json:"credits,omitempty"`
	Identity    *IdentityData   `json:"identity,omitempty"`
	Plaintext   string          `json:"plaintext,omitempty"`
	Ratelimits  []RatelimitData `json:"ratelimits,omitempty"`
}

// CreditsData is Unkey's KeyCreditsData; Remaining nil (JSON null) is unlimited.
type CreditsData struct {
	Remaining *int64         `json:"remaining"`
	Refill    *events.Refill `json:"refill,omitempty"`
}

// IdentityData is Unkey's Identity, as identities.* and keys show it.
type IdentityData struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"externalId"`
	Meta       json.RawMessage `json:"meta,omitempty"`
	Ratelimits []RatelimitData `json:"ratelimits,omitempty"`
}

// identityData renders an identity row.
func identityData(row projections.IdentityRow) *IdentityData {
	d := &IdentityData{ID: row.ID, ExternalID: row.ExternalID, Ratelimits: ratelimitData(row.RatelimitList())}
	if row.Meta != "" {
		d.Meta = json.RawMessage(row.Meta)
	}
	return d
}

// RatelimitData is Unkey's RatelimitResponse.
type RatelimitData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

// PermissionData is Unkey's Permission.
type PermissionData struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description,omitempty"`
}

// RoleData is Unkey's Role; the key endpoints leave Permissions out.
type RoleData struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Permissions []PermissionData `json:"permissions,omitempty"`
}

// CreditsInput is the credits object of createKey/updateKey.
type CreditsInput struct {
	Remaining *int64
	Refill    *events.Refill
}

// RatelimitInput is a rate-limit config of createKey/updateKey.
type RatelimitInput struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

func ratelimitData(rls []events.Ratelimit) []RatelimitData {
	var out []RatelimitData
	for _, r := range rls {
		out = append(out, RatelimitData{ID: r.ID, Name: r.Name, Limit: r.Limit, Duration: r.Duration, AutoApply: r.AutoApply})
	}
	return out
}

// keyData renders rows as KeyResponseData, loading their access, credits
// and identities in a few batched queries.
func keyData(ctx context.Context, r KeyReader, ring *keyring.Keyring, rows []projections.KeyRow, decrypt bool) ([]KeyData, error) {
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	access, err := r.KeyAccess(ctx, ids)
	if err != nil {
		return nil, Internal("reading key access", err)
	}
	credits, err := r.CreditsOf(ctx, ids)
	if err != nil {
		return nil, Internal("reading key credits", err)
	}
	identities := map[string]*IdentityData{}
	out := make([]KeyData, 0, len(rows))
	for _, row := range rows {
		d := KeyData{KeyID: row.ID, Start: row.Start, Enabled: row.Enabled, Name: row.Name, CreatedAt: row.CreatedAt,
			Expires: row.Expires, Ratelimits: ratelimitData(row.RatelimitList())}
		if row.Meta != "" {
			d.Meta = json.RawMessage(row.Meta)
		}
		if row.UpdatedAt != nil {
			d.UpdatedAt = *row.UpdatedAt
		}
		if a := access[row.ID]; a != nil {
			for _, p := range a.Direct {
				d.Permissions = append(d.Permissions, p.Slug)
			}
			for _, s := range a.RolePermissions {
				if !slices.Contains(d.Permissions, s) {
					d.Permissions = append(d.Permissions, s)
				}
			}
			sort.Strings(d.Permissions)
			for _, rl := range a.Roles {
				d.Roles = append(d.Roles, rl.Name)
			}
		}
		if c, ok := credits[row.ID]; ok && c.Remaining != nil {
			d.Credits = &CreditsData{Remaining: c.Remaining, Refill: row.Refill()}
		}
		if row.IdentityID != "" {
			id, ok := identities[row.IdentityID]
			if !ok {
				irow, err := r.Identity(ctx, row.IdentityID)
				switch {
				case errors.Is(err, events.ErrNotFound):
				case err != nil:
					return nil, Internal("reading identity", err)
				default:
					id = identityData(irow)
				}
				identities[row.IdentityID] = id
			}
			d.Identity = id
		}
		if decrypt && row.Ciphertext != "" && ring.Ready() {
			plain, err := ring.Open(row.ID, row.KeyringID, row.Ciphertext)
			if err != nil {
				return nil, Internal("decrypting key", err)
			}
			d.Plaintext = plain
		}
		out = append(out, d)
	}
	return out, nil
}

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

// createPermissionPerms allows creating permission slugs on the fly.
func createPermissionPerms(p *Principal) []string {
	return []string{"rbac.*.create_permission", p.URN("rbac/permissions/*", "create_permission")}
}

// resolveRoles maps role names or IDs to IDs; an unknown one is a 404.
func resolveRoles(ctx context.Context, r KeyReader, workspaceID string, refs []string) ([]string, []projections.RoleRow, error) {
	if len(refs) == 0 {
		return nil, nil, nil
	}
	rows, err := r.RolesByRef(ctx, workspaceID, refs)
	if err != nil {
		return nil, nil, Internal("reading roles", err)
	}
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		found := false
		for _, row := range rows {
			if row.Name == ref || row.ID == ref {
				found = true
				if !slices.Contains(ids, row.ID) {
					ids = append(ids, row.ID)
				}
				break
			}
		}
		if !found {
			return nil, nil, Fail(CodeRoleNotFound, "Role '"+ref+"' was not found.")
		}
	}
	return ids, rows, nil
}

// createMissing lets resolvePermissions create unknown slugs.
func createMissing(string) error { return nil }

// mustExist makes an unknown permission a 404.
func mustExist(ref string) error {
	return Fail(CodePermissionNotFound, "Permission '"+ref+"' was not found.")
}

// resolvePermissions maps slugs or IDs to permission IDs. For an unknown one
// it asks onMissing: nil creates it (see ensurePermission), an error fails
// the request.
func resolvePermissions(ctx context.Context, r KeyReader, log EventLog, p *Principal, refs []string, onMissing func(ref string) error) ([]string, error) {
	ids, _, err := resolvePermissionRefs(ctx, r, log, p, refs, onMissing)
	return ids, err
}

// PermissionRefReader finds permissions by slug or ID.
type PermissionRefReader interface {
	PermissionsByRef(ctx context.Context, workspaceID string, refs []string) ([]projections.PermissionRow, error)
}

// resolvePermissionRefs is resolvePermissions that also reports whether it
// had to create any slug.
func resolvePermissionRefs(ctx context.Context, r PermissionRefReader, log EventLog, p *Principal, refs []string,
	onMissing func(ref string) error) (ids []string, created bool, err error) {
	if len(refs) == 0 {
		return nil, false, nil
	}
	rows, err := r.PermissionsByRef(ctx, p.WorkspaceID, refs)
	if err != nil {
		return nil, false, Internal("reading permissions", err)
	}
	ids = make([]string, 0, len(refs))
	for _, ref := range refs {
		id := ""
		for _, row := range rows {
			if row.Slug == ref || row.ID == ref {
				id = row.ID
				break
			}
		}
		if id == "" {
			if err := onMissing(ref); err != nil {
				return nil, false, err
			}
			if id, err = ensurePermission(ctx, log, p, ref); err != nil {
				return nil, false, err
			}
			created = true
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, created, nil
}

// ensurePermission returns the live permission of slug, creating it (name =
// slug) if there is none. Every creator of one slug appends to the slug's
// stream, so concurrent auto-creates converge on one permission.
func ensurePermission(ctx context.Context, log EventLog, p *Principal, slug string) (string, error) {
	id, err := createPermission(ctx, log, p, slug, slug, "")
	var exists *existsError
	if errors.As(err, &exists) {
		return exists.id, nil
	}
	return id, err
}

// existsError carries the ID of the live aggregate a create ran into.
type existsError struct{ id string }

func (e *existsError) Error() string { return "already exists: " + e.id }

// createPermission decides and appends permission.created on the slug's
// stream; a live permission already holding the slug is an *existsError.
func createPermission(ctx context.Context, log EventLog, p *Principal, slug, name, description string) (string, error) {
	meta := metaFor(ctx, p)
	agg, err := update(ctx, log, events.PermissionStreamFor(p.WorkspaceID, slug), &meta, "permission", func(agg *events.Permission) ([]events.Event, error) {
		if agg.Live(p.WorkspaceID) {
			return nil, &existsError{agg.ID}
		}
		decided, err := agg.Create(p.WorkspaceID, slug, name, description)
		if err != nil {
			return nil, Internal("deciding permission creation", err)
		}
		return decided, nil
	})
	if err != nil {
		return "", err
	}
	return agg.ID, nil
}

// ensureIdentity returns the identity of externalID, creating it when it
// does not exist yet. Concurrent calls converge on the externalId's stream.
func ensureIdentity(ctx context.Context, r KeyReader, log EventLog, p *Principal, externalID string) (string, error) {
	row, err := r.IdentityByExternalID(ctx, p.WorkspaceID, externalID)
	if err == nil {
		return row.ID, nil
	}
	if !errors.Is(err, events.ErrNotFound) {
		return "", Internal("reading identity", err)
	}
	id, err := createIdentity(ctx, log, p, externalID, nil, nil)
	var exists *existsError
	if errors.As(err, &exists) {
		return exists.id, nil
	}
	return id, err
}

// createIdentity decides and appends identity.created on the externalId's
// stream; a live identity already holding it is an *existsError.
func createIdentity(ctx context.Context, log EventLog, p *Principal, externalID string, meta json.RawMessage, rls []events.Ratelimit) (string, error) {
	m := metaFor(ctx, p)
	agg, err := update(ctx, log, events.IdentityStreamFor(p.WorkspaceID, externalID), &m, "identity", func(agg *events.Identity) ([]events.Event, error) {
		if agg.Live(p.WorkspaceID) {
			return nil, &existsError{agg.ID}
		}
		decided, err := agg.Create(p.WorkspaceID, externalID, meta, rls)
		if err != nil {
			return nil, Internal("deciding identity creation", err)
		}
		return decided, nil
	})
	if err != nil {
		return "", err
	}
	return agg.ID, nil
}

// validateCredits applies Unkey's refill rules.
func validateCredits(c *CreditsInput, update bool) error {
	if c == nil || c.Refill == nil {
		return nil
	}
	if c.Remaining == nil {
		return Fail(CodeInvalidInput, "`credits.remaining` must be set when `credits.refill` is provided.")
	}
	if c.Refill.Interval == "monthly" && c.Refill.Day == 0 {
		return Fail(CodeInvalidInput, "`refillDay` must be provided when the refill interval is `monthly`.")
	}
	if update && c.Refill.Interval == "daily" && c.Refill.Day != 0 {
		return Fail(CodeInvalidInput, "`refillDay` must not be provided when the refill interval is `daily`.")
	}
	return nil
}

func newRatelimits(in []RatelimitInput, existing []events.Ratelimit) []events.Ratelimit {
	out := make([]events.Ratelimit, 0, len(in))
	for _, r := range in {
		id := ""
		for _, e := range existing {
			if e.Name == r.Name {
				id = e.ID
			}
		}
		if id == "" {
			id = NewID("rl")
		}
		out = append(out, events.Ratelimit{ID: id, Name: r.Name, Limit: r.Limit, Duration: r.Duration, AutoApply: r.AutoApply})
	}
	return out
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

// Refill is the credit refill schedule as requests and responses carry it.
type Refill = events.Refill
