package events

import (
	"encoding/json"
	"slices"
	"strings"
)

// Refill is a credit refill schedule. It sets remaining to Amount (it does
// not add), daily or on Day of every month.
type Refill struct {
	Interval string `json:"interval"`
	Amount   int64  `json:"amount"`
	Day      int    `json:"refillDay,omitempty"`
}

// Ratelimit is a rate-limit configuration attached to a key or an identity.
type Ratelimit struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

// Encrypted is a recoverable key's plaintext sealed with the keyring entry
// KeyringID. The log holds only the ciphertext, never the key itself.
type Encrypted struct {
	KeyringID  string `json:"keyringId"`
	Ciphertext string `json:"ciphertext"`
}

// Change is one field of an update with three states: a nil *Change leaves
// the field alone, Change{Value: nil} clears it, Change{Value: &v} sets it.
// keys.updateKey distinguishes all three, so the event must too; its
// request carries the same type, decoded from absent, null or a value.
type Change[T any] struct {
	Value *T `json:"value"`
}

// KeyCreated issues a key. Only its hash and start are recorded.
type KeyCreated struct {
	KeyID              string          `json:"keyId"`
	WorkspaceID        string          `json:"workspaceId"`
	APIID              string          `json:"apiId"`
	KeySpaceID         string          `json:"keySpaceId"`
	Hash               string          `json:"hash"`
	Start              string          `json:"start"`
	Name               string          `json:"name,omitempty"`
	Meta               json.RawMessage `json:"meta,omitempty"`
	IdentityID         string          `json:"identityId,omitempty"`
	Enabled            bool            `json:"enabled"`
	Expires            *int64          `json:"expires,omitempty"`
	Remaining          *int64          `json:"remaining,omitempty"`
	Refill             *Refill         `json:"refill,omitempty"`
	PermissionIDs      []string        `json:"permissionIds,omitempty"`
	RoleIDs            []string        `json:"roleIds,omitempty"`
	Ratelimits         []Ratelimit     `json:"ratelimits,omitempty"`
	Encrypted          *Encrypted      `json:"encrypted,omitempty"`
	PendingMigrationID string          `json:"pendingMigrationId,omitempty"`
	RerolledFrom       string          `json:"rerolledFrom,omitempty"`
}

// KeyUpdated changes a key's descriptive fields; absent fields stay as they are.
type KeyUpdated struct {
	KeyID       string                   `json:"keyId"`
	WorkspaceID string                   `json:"workspaceId"`
	Name        *Change[string]          `json:"name,omitempty"`
	IdentityID  *Change[string]          `json:"identityId,omitempty"`
	Meta        *Change[json.RawMessage] `json:"meta,omitempty"`
	Expires     *Change[int64]           `json:"expires,omitempty"`
	Refill      *Change[Refill]          `json:"refill,omitempty"`
	Ratelimits  *[]Ratelimit             `json:"ratelimits,omitempty"`
}

// KeyEnabled and KeyDisabled switch verification of a key on and off.
type KeyEnabled struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
}

type KeyDisabled struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
}

// KeyDeleted removes a key: soft keeps the row for audit, permanent erases it.
type KeyDeleted struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	Permanent   bool   `json:"permanent,omitempty"`
}

// KeyCreditsSet replaces the remaining credits; nil makes the key unlimited
// and drops its refill, as Unkey does.
type KeyCreditsSet struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	Remaining   *int64 `json:"remaining"`
}

// KeyCreditsIncremented adds credits. It commutes with spending, so it is
// recorded as a delta.
type KeyCreditsIncremented struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	By          int64  `json:"by"`
}

// KeyCreditsDecremented removes credits, flooring at 0. The floor depends on
// the live balance, so the event records the balance it produced (Result):
// replay must not re-decide the floor against a log that lacks unflushed spends.
type KeyCreditsDecremented struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	By          int64  `json:"by"`
	Result      int64  `json:"result"`
}

// KeyCreditsSpent records credits consumed by verifications: the sum of the
// spend journal rows of one key and epoch that one fold took, appended to
// that fold's stream (CreditFoldStreamID). Epoch is the credit epoch the
// spends happened in; spends of an earlier epoch were overridden by a
// set-like event and are ignored (see docs/ARCHITECTURE.md, "Credits").
// Logs written before the journal existed hold them in per-node streams
// ("credits-<node>"); they fold the same way.
type KeyCreditsSpent struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	Amount      int64  `json:"amount"`
	Epoch       int64  `json:"epoch"`
}

// KeyRefilled sets remaining to Amount for one refill period (a UTC date,
// "2026-11-26"). The stream is per key and period, so a period refills once.
type KeyRefilled struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	Amount      int64  `json:"amount"`
	Period      string `json:"period"`
}

// Direct permission and role assignments. Added/Removed carry only real
// changes; Set carries the complete resulting list.
type KeyPermissionsAdded struct {
	KeyID         string   `json:"keyId"`
	WorkspaceID   string   `json:"workspaceId"`
	PermissionIDs []string `json:"permissionIds"`
}

type KeyPermissionsRemoved struct {
	KeyID         string   `json:"keyId"`
	WorkspaceID   string   `json:"workspaceId"`
	PermissionIDs []string `json:"permissionIds"`
}

type KeyPermissionsSet struct {
	KeyID         string   `json:"keyId"`
	WorkspaceID   string   `json:"workspaceId"`
	PermissionIDs []string `json:"permissionIds"`
}

type KeyRolesAdded struct {
	KeyID       string   `json:"keyId"`
	WorkspaceID string   `json:"workspaceId"`
	RoleIDs     []string `json:"roleIds"`
}

type KeyRolesRemoved struct {
	KeyID       string   `json:"keyId"`
	WorkspaceID string   `json:"workspaceId"`
	RoleIDs     []string `json:"roleIds"`
}

type KeyRolesSet struct {
	KeyID       string   `json:"keyId"`
	WorkspaceID string   `json:"workspaceId"`
	RoleIDs     []string `json:"roleIds"`
}

// KeyRerolled retires a key in favour of NewKeyID, which was created with a
// copy of its settings; the old key expires at Expires.
type KeyRerolled struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	NewKeyID    string `json:"newKeyId"`
	Expires     int64  `json:"expires"`
}

// KeyMigrated rehashes an imported key on its first verification, once the
// plaintext is known, and clears the pending migration.
type KeyMigrated struct {
	KeyID       string `json:"keyId"`
	WorkspaceID string `json:"workspaceId"`
	OldHash     string `json:"oldHash"`
	Hash        string `json:"hash"`
	Start       string `json:"start"`
}

func (KeyCreated) EventName() string            { return "key.created" }
func (KeyUpdated) EventName() string            { return "key.updated" }
func (KeyEnabled) EventName() string            { return "key.enabled" }
func (KeyDisabled) EventName() string           { return "key.disabled" }
func (KeyDeleted) EventName() string            { return "key.deleted" }
func (KeyCreditsSet) EventName() string         { return "key.credits_set" }
func (KeyCreditsIncremented) EventName() string { return "key.credits_incremented" }
func (KeyCreditsDecremented) EventName() string { return "key.credits_decremented" }
func (KeyCreditsSpent) EventName() string       { return "key.credits_spent" }
func (KeyRefilled) EventName() string           { return "key.refilled" }
func (KeyPermissionsAdded) EventName() string   { return "key.permissions_added" }
func (KeyPermissionsRemoved) EventName() string { return "key.permissions_removed" }
func (KeyPermissionsSet) EventName() string     { return "key.permissions_set" }
func (KeyRolesAdded) EventName() string         { return "key.roles_added" }
func (KeyRolesRemoved) EventName() string       { return "key.roles_removed" }
func (KeyRolesSet) EventName() string           { return "key.roles_set" }
func (KeyRerolled) EventName() string           { return "key.rerolled" }
func (KeyMigrated) EventName() string           { return "key.migrated" }

func (KeyCreated) EventVersion() int            { return 1 }
func (KeyUpdated) EventVersion() int            { return 1 }
func (KeyEnabled) EventVersion() int            { return 1 }
func (KeyDisabled) EventVersion() int           { return 1 }
func (KeyDeleted) EventVersion() int            { return 1 }
func (KeyCreditsSet) EventVersion() int         { return 1 }
func (KeyCreditsIncremented) EventVersion() int { return 1 }
func (KeyCreditsDecremented) EventVersion() int { return 1 }
func (KeyCreditsSpent) EventVersion() int       { return 1 }
func (KeyRefilled) EventVersion() int           { return 1 }
func (KeyPermissionsAdded) EventVersion() int   { return 1 }
func (KeyPermissionsRemoved) EventVersion() int { return 1 }
func (KeyPermissionsSet) EventVersion() int     { return 1 }
func (KeyRolesAdded) EventVersion() int         { return 1 }
func (KeyRolesRemoved) EventVersion() int       { return 1 }
func (KeyRolesSet) EventVersion() int           { return 1 }
func (KeyRerolled) EventVersion() int           { return 1 }
func (KeyMigrated) EventVersion() int           { return 1 }

func (e *KeyCreated) value() Event            { return *e }
func (e *KeyUpdated) value() Event            { return *e }
func (e *KeyEnabled) value() Event            { return *e }
func (e *KeyDisabled) value() Event           { return *e }
func (e *KeyDeleted) value() Event            { return *e }
func (e *KeyCreditsSet) value() Event         { return *e }
func (e *KeyCreditsIncremented) value() Event { return *e }
func (e *KeyCreditsDecremented) value() Event { return *e }
func (e *KeyCreditsSpent) value() Event       { return *e }
func (e *KeyRefilled) value() Event           { return *e }
func (e *KeyPermissionsAdded) value() Event   { return *e }
func (e *KeyPermissionsRemoved) value() Event { return *e }
func (e *KeyPermissionsSet) value() Event     { return *e }
func (e *KeyRolesAdded) value() Event         { return *e }
func (e *KeyRolesRemoved) value() Event       { return *e }
func (e *KeyRolesSet) value() Event           { return *e }
func (e *KeyRerolled) value() Event           { return *e }
func (e *KeyMigrated) value() Event           { return *e }

func init() {
	register(func() Event { return &KeyCreated{} })
	register(func() Event { return &KeyUpdated{} })
	register(func() Event { return &KeyEnabled{} })
	register(func() Event { return &KeyDisabled{} })
	register(func() Event { return &KeyDeleted{} })
	register(func() Event { return &KeyCreditsSet{} })
	register(func() Event { return &KeyCreditsIncremented{} })
	register(func() Event { return &KeyCreditsDecremented{} })
	register(func() Event { return &KeyCreditsSpent{} })
	register(func() Event { return &KeyRefilled{} })
	register(func() Event { return &KeyPermissionsAdded{} })
	register(func() Event { return &KeyPermissionsRemoved{} })
	register(func() Event { return &KeyPermissionsSet{} })
	register(func() Event { return &KeyRolesAdded{} })
	register(func() Event { return &KeyRolesRemoved{} })
	register(func() Event { return &KeyRolesSet{} })
	register(func() Event { return &KeyRerolled{} })
	register(func() Event { return &KeyMigrated{} })
}

// KeyStreamID names the stream of one key.
func KeyStreamID(keyID string) string { return "key-" + keyID }

// KeyRefillStreamID names the one-event stream of a key's refill in period.
// Every node that runs the refill aims at it, so exactly one append wins.
func KeyRefillStreamID(keyID, period string) string { return "key_refill-" + keyID + "-" + period }

// creditFoldPrefix starts the stream of every credit fold.
const creditFoldPrefix = "credit_fold-"

// CreditFoldStreamID names the stream of the fold that claimed the spend
// journal rows marked claim. The fold appends to it at version 0, so a fold
// is recorded at most once, and the claim in the name tells the append which
// journal rows it consumes.
func CreditFoldStreamID(claim string) string { return creditFoldPrefix + claim }

// CreditFoldClaim returns the claim of a fold stream, and false for any
// other stream.
func CreditFoldClaim(streamID string) (claim string, ok bool) {
	claim, ok = strings.CutPrefix(streamID, creditFoldPrefix)
	return claim, ok && claim != ""
}

// Key is the folded state of a key stream.
type Key struct {
	ID                 string
	WorkspaceID        string
	APIID              string
	KeySpaceID         string
	Hash               string
	Start              string
	Name               string
	Meta               json.RawMessage
	IdentityID         string
	Enabled            bool
	Expires            *int64
	Limited            bool
	Refill             *Refill
	Permissions        []string
	Roles              []string
	Ratelimits         []Ratelimit
	Encrypted          *Encrypted
	PendingMigrationID string
	Deleted            bool
	Version            int64
}

// Apply folds one event into the state.
func (k *Key) Apply(e Event) {
	switch e := e.(type) {
	case KeyCreated:
		*k = Key{ID: e.KeyID, WorkspaceID: e.WorkspaceID, APIID: e.APIID, KeySpaceID: e.KeySpaceID, Hash: e.Hash,
			Start: e.Start, Name: e.Name, Meta: e.Meta, IdentityID: e.IdentityID, Enabled: e.Enabled, Expires: e.Expires,
			Limited: e.Remaining != nil, Refill: e.Refill, Permissions: slices.Clone(e.PermissionIDs), Roles: slices.Clone(e.RoleIDs),
			Ratelimits: e.Ratelimits, Encrypted: e.Encrypted, PendingMigrationID: e.PendingMigrationID, Version: k.Version}
	case KeyUpdated:
		if e.Name != nil {
			k.Name = ValueOr0(e.Name.Value)
		}
		if e.IdentityID != nil {
			k.IdentityID = ValueOr0(e.IdentityID.Value)
		}
		if e.Meta != nil {
			k.Meta = ValueOr0(e.Meta.Value)
		}
		if e.Expires != nil {
			k.Expires = e.Expires.Value
		}
		if e.Refill != nil {
			k.Refill = e.Refill.Value
		}
		if e.Ratelimits != nil {
			k.Ratelimits = *e.Ratelimits
		}
	case KeyEnabled:
		k.Enabled = true
	case KeyDisabled:
		k.Enabled = false
	case KeyDeleted:
		k.Deleted = true
	case KeyCreditsSet:
		k.Limited = e.Remaining != nil
		if e.Remaining == nil {
			k.Refill = nil
		}
	case KeyPermissionsAdded:
		k.Permissions = union(k.Permissions, e.PermissionIDs)
	case KeyPermissionsRemoved:
		k.Permissions = minus(k.Permissions, e.PermissionIDs)
	case KeyPermissionsSet:
		k.Permissions = slices.Clone(e.PermissionIDs)
	case KeyRolesAdded:
		k.Roles = union(k.Roles, e.RoleIDs)
	case KeyRolesRemoved:
		k.Roles = minus(k.Roles, e.RoleIDs)
	case KeyRolesSet:
		k.Roles = slices.Clone(e.RoleIDs)
	case KeyRerolled:
		exp := e.Expires
		k.Expires = &exp
	case KeyMigrated:
		k.Hash, k.Start, k.PendingMigrationID = e.Hash, e.Start, ""
	}
	k.Version++
}

// ValueOr0 is *p, or T's zero value for a nil p: how an optional field of
// an event reads when it was absent. The one such helper; the projections
// use it too.
func ValueOr0[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func union(have, add []string) []string {
	out := slices.Clone(have)
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func minus(have, drop []string) []string {
	out := make([]string, 0, len(have))
	for _, h := range have {
		if !slices.Contains(drop, h) {
			out = append(out, h)
		}
	}
	return out
}

// within is the counterpart of minus: the elements of have that keep holds.
func within(have, keep []string) []string {
	var out []string
	for _, h := range have {
		if slices.Contains(keep, h) {
			out = append(out, h)
		}
	}
	return out
}

// Live reports whether the key exists, is not deleted and belongs to
// workspaceID: another workspace's key must look absent.
func (k *Key) Live(workspaceID string) bool {
	return k.Version > 0 && !k.Deleted && k.WorkspaceID == workspaceID
}

// Create decides the issue of a key.
func (k *Key) Create(c KeyCreated) ([]Event, error) {
	if k.Version > 0 {
		return nil, ErrAlreadyExists
	}
	if len(c.PermissionIDs) > 0 {
		c.PermissionIDs = dedupe(c.PermissionIDs)
	}
	if len(c.RoleIDs) > 0 {
		c.RoleIDs = dedupe(c.RoleIDs)
	}
	return []Event{c}, nil
}

// Update decides a change of descriptive fields; an update that changes
// nothing still records the request, as Unkey stamps updated_at regardless.
func (k *Key) Update(workspaceID string, u KeyUpdated) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	u.KeyID, u.WorkspaceID = k.ID, k.WorkspaceID
	return []Event{u}, nil
}

// SetEnabled decides switching the key on or off; no-ops produce nothing.
func (k *Key) SetEnabled(workspaceID string, enabled bool) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	if k.Enabled == enabled {
		return nil, nil
	}
	if enabled {
		return []Event{KeyEnabled{KeyID: k.ID, WorkspaceID: k.WorkspaceID}}, nil
	}
	return []Event{KeyDisabled{KeyID: k.ID, WorkspaceID: k.WorkspaceID}}, nil
}

// Delete decides a soft or permanent delete.
func (k *Key) Delete(workspaceID string, permanent bool) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{KeyDeleted{KeyID: k.ID, WorkspaceID: k.WorkspaceID, Permanent: permanent}}, nil
}

// SetCredits decides replacing the balance (nil = unlimited).
func (k *Key) SetCredits(workspaceID string, remaining *int64) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{KeyCreditsSet{KeyID: k.ID, WorkspaceID: k.WorkspaceID, Remaining: remaining}}, nil
}

// Increment decides adding credits to a limited key.
func (k *Key) Increment(workspaceID string, by int64) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	if !k.Limited {
		return nil, ErrUnlimitedCredits
	}
	return []Event{KeyCreditsIncremented{KeyID: k.ID, WorkspaceID: k.WorkspaceID, By: by}}, nil
}

// Decrement decides removing credits from a limited key whose live balance
// is current; the result floors at 0.
func (k *Key) Decrement(workspaceID string, by, current int64) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	if !k.Limited {
		return nil, ErrUnlimitedCredits
	}
	return []Event{KeyCreditsDecremented{KeyID: k.ID, WorkspaceID: k.WorkspaceID, By: by, Result: max(current-by, 0)}}, nil
}

// AddPermissions decides adding direct permissions; only new ones are recorded.
func (k *Key) AddPermissions(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	added := minus(dedupe(ids), k.Permissions)
	if len(added) == 0 {
		return nil, nil
	}
	return []Event{KeyPermissionsAdded{KeyID: k.ID, WorkspaceID: k.WorkspaceID, PermissionIDs: added}}, nil
}

// RemovePermissions decides removing direct permissions the key holds.
func (k *Key) RemovePermissions(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	removed := within(dedupe(ids), k.Permissions)
	if len(removed) == 0 {
		return nil, nil
	}
	return []Event{KeyPermissionsRemoved{KeyID: k.ID, WorkspaceID: k.WorkspaceID, PermissionIDs: removed}}, nil
}

// SetPermissions decides replacing the direct permissions; an unchanged set records nothing.
func (k *Key) SetPermissions(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	ids = dedupe(ids)
	if sameSet(ids, k.Permissions) {
		return nil, nil
	}
	return []Event{KeyPermissionsSet{KeyID: k.ID, WorkspaceID: k.WorkspaceID, PermissionIDs: ids}}, nil
}

// AddRoles, RemoveRoles and SetRoles mirror the permission decisions.
func (k *Key) AddRoles(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	added := minus(dedupe(ids), k.Roles)
	if len(added) == 0 {
		return nil, nil
	}
	return []Event{KeyRolesAdded{KeyID: k.ID, WorkspaceID: k.WorkspaceID, RoleIDs: added}}, nil
}

func (k *Key) RemoveRoles(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	removed := within(dedupe(ids), k.Roles)
	if len(removed) == 0 {
		return nil, nil
	}
	return []Event{KeyRolesRemoved{KeyID: k.ID, WorkspaceID: k.WorkspaceID, RoleIDs: removed}}, nil
}

func (k *Key) SetRoles(workspaceID string, ids []string) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	ids = dedupe(ids)
	if sameSet(ids, k.Roles) {
		return nil, nil
	}
	return []Event{KeyRolesSet{KeyID: k.ID, WorkspaceID: k.WorkspaceID, RoleIDs: ids}}, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Reroll decides retiring the key at expires in favour of newKeyID.
func (k *Key) Reroll(workspaceID, newKeyID string, expires int64) ([]Event, error) {
	if !k.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{KeyRerolled{KeyID: k.ID, WorkspaceID: k.WorkspaceID, NewKeyID: newKeyID, Expires: expires}}, nil
}

// Migrate decides rehashing an imported key that is still pending migrationID.
func (k *Key) Migrate(migrationID, hash, start string) ([]Event, error) {
	if k.Version == 0 || k.Deleted {
		return nil, ErrNotFound
	}
	if k.PendingMigrationID == "" || k.PendingMigrationID != migrationID {
		return nil, nil
	}
	return []Event{KeyMigrated{KeyID: k.ID, WorkspaceID: k.WorkspaceID, OldHash: k.Hash, Hash: hash, Start: start}}, nil
}
