package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// IdentityCreated opens an identity: the workspace's handle on an entity of
// the customer's own system (ExternalID), with rate limits its keys share.
type IdentityCreated struct {
	IdentityID  string          `json:"identityId"`
	WorkspaceID string          `json:"workspaceId"`
	ExternalID  string          `json:"externalId"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	Ratelimits  []Ratelimit     `json:"ratelimits,omitempty"`
}

// IdentityUpdated replaces the metadata and/or the whole set of rate limits;
// a nil field is left alone.
type IdentityUpdated struct {
	IdentityID  string                   `json:"identityId"`
	WorkspaceID string                   `json:"workspaceId"`
	Meta        *Change[json.RawMessage] `json:"meta,omitempty"`
	Ratelimits  *[]Ratelimit             `json:"ratelimits,omitempty"`
}

// IdentityDeleted soft-deletes an identity and frees its externalId.
type IdentityDeleted struct {
	IdentityID  string `json:"identityId"`
	WorkspaceID string `json:"workspaceId"`
	ExternalID  string `json:"externalId"`
}

func (IdentityCreated) EventName() string { return "identity.created" }
func (IdentityUpdated) EventName() string { return "identity.updated" }
func (IdentityDeleted) EventName() string { return "identity.deleted" }
func (IdentityCreated) EventVersion() int { return 1 }
func (IdentityUpdated) EventVersion() int { return 1 }
func (IdentityDeleted) EventVersion() int { return 1 }
func (e *IdentityCreated) value() Event   { return *e }
func (e *IdentityUpdated) value() Event   { return *e }
func (e *IdentityDeleted) value() Event   { return *e }

func init() {
	register(func() Event { return &IdentityCreated{} })
	register(func() Event { return &IdentityUpdated{} })
	register(func() Event { return &IdentityDeleted{} })
}

// IdentityStreamIDFor names the stream of externalID in a workspace. The
// stream is the claim on the externalId: every identity that ever held it
// lives there one after the other, so "unique among live identities" is the
// stream's version check, and concurrent upserts from keys.createKey aim at
// one stream where exactly one creation lands. (It is the stream the first
// identity of an externalId always used, so older logs load unchanged.)
func IdentityStreamIDFor(workspaceID, externalID string) string {
	return "identity-" + IdentityIDFor(workspaceID, externalID, 0)
}

// IdentityIDFor derives the ID of the generation-th identity (0-based) to
// hold externalID. Deriving rather than drawing it makes racing creators
// compute the same ID; the generation makes delete → create yield a new
// identity, so nothing that pointed at the deleted one (keys, counters,
// caches) silently attaches to its successor.
func IdentityIDFor(workspaceID, externalID string, generation int) string {
	return "id_" + deriveGeneration("identity", workspaceID, externalID, generation)
}

// Identity is the folded state of an externalId's stream: the current (or
// last) identity holding it.
type Identity struct {
	ID          string
	WorkspaceID string
	ExternalID  string
	Meta        json.RawMessage
	Ratelimits  []Ratelimit
	Deleted     bool
	// Generation counts the identities the stream has created so far.
	Generation int
	Version    int64
}

// Apply folds one event into the state.
func (i *Identity) Apply(e Event) {
	switch e := e.(type) {
	case IdentityCreated:
		*i = Identity{ID: e.IdentityID, WorkspaceID: e.WorkspaceID, ExternalID: e.ExternalID, Meta: e.Meta,
			Ratelimits: e.Ratelimits, Generation: i.Generation + 1, Version: i.Version}
	case IdentityUpdated:
		if e.Meta != nil {
			i.Meta = ValueOr0(e.Meta.Value)
		}
		if e.Ratelimits != nil {
			i.Ratelimits = *e.Ratelimits
		}
	case IdentityDeleted:
		i.Deleted = true
	}
	i.Version++
}

// Live reports whether the stream holds a live identity of workspaceID.
func (i *Identity) Live(workspaceID string) bool {
	return i.Generation > 0 && !i.Deleted && i.WorkspaceID == workspaceID
}

// Create decides opening the next identity for externalID; a live one
// already holding it is ErrAlreadyExists.
func (i *Identity) Create(workspaceID, externalID string, meta json.RawMessage, rls []Ratelimit) ([]Event, error) {
	if i.Generation > 0 && !i.Deleted {
		return nil, ErrAlreadyExists
	}
	return []Event{IdentityCreated{IdentityID: IdentityIDFor(workspaceID, externalID, i.Generation), WorkspaceID: workspaceID,
		ExternalID: externalID, Meta: meta, Ratelimits: rls}}, nil
}

// Update decides replacing metadata and/or rate limits. An update that
// changes nothing is still recorded, as Unkey writes it regardless.
func (i *Identity) Update(workspaceID string, u IdentityUpdated) ([]Event, error) {
	if !i.Live(workspaceID) {
		return nil, ErrNotFound
	}
	u.IdentityID, u.WorkspaceID = i.ID, i.WorkspaceID
	return []Event{u}, nil
}

// Delete decides a soft delete.
func (i *Identity) Delete(workspaceID string) ([]Event, error) {
	if !i.Live(workspaceID) {
		return nil, ErrNotFound
	}
	return []Event{IdentityDeleted{IdentityID: i.ID, WorkspaceID: i.WorkspaceID, ExternalID: i.ExternalID}}, nil
}

func derive(kind, workspaceID, name string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + workspaceID + "\x00" + name))
	return hex.EncodeToString(sum[:])[:16]
}

// deriveGeneration is derive for the generation-th holder of a name;
// generation 0 derives exactly what derive does, so IDs minted before
// generations existed stay what they were.
func deriveGeneration(kind, workspaceID, name string, generation int) string {
	if generation == 0 {
		return derive(kind, workspaceID, name)
	}
	return derive(kind, workspaceID, name+"\x00"+strconv.Itoa(generation))
}
