package events

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// RootKeyCreated records a credential for keyline's own management API. Only
// the hash of the secret is in the log: the plaintext is shown once to whoever
// created it and is unrecoverable afterwards.
type RootKeyCreated struct {
	RootKeyID   string   `json:"rootKeyId"`
	WorkspaceID string   `json:"workspaceId"`
	Hash        string   `json:"hash"`
	Start       string   `json:"start"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions"`
	// Configured marks the key bootstrap.rootKey names, so that a changed
	// setting can find and revoke the key it replaces.
	Configured bool `json:"configured,omitempty"`
}

func (RootKeyCreated) EventName() string { return "root_key.created" }
func (RootKeyCreated) EventVersion() int { return 1 }
func (e *RootKeyCreated) value() Event   { return *e }

// IsConfigured reports whether the key came from bootstrap.rootKey. Logs
// written before the Configured field existed mark such a key only by its
// ID, which is derived from its hash; no other root key's ID is.
func (c RootKeyCreated) IsConfigured() bool {
	return c.Configured || c.RootKeyID == RootKeyIDForHash(c.Hash)
}

// RootKeyRevoked withdraws a root key for good: from this event on it
// authenticates nothing, exactly like a key that never existed. Nothing
// brings it back; a new key is minted instead.
type RootKeyRevoked struct {
	RootKeyID   string `json:"rootKeyId"`
	WorkspaceID string `json:"workspaceId"`
	// Reason says who asked: "cli" (keyline rootkeys revoke) or "replaced"
	// (bootstrap.rootKey changed).
	Reason string `json:"reason,omitempty"`
}

func (RootKeyRevoked) EventName() string { return "root_key.revoked" }
func (RootKeyRevoked) EventVersion() int { return 1 }
func (e *RootKeyRevoked) value() Event   { return *e }

// Reasons recorded in RootKeyRevoked.
const (
	RevokedByOperator = "cli"
	RevokedAsReplaced = "replaced"
)

func init() {
	register(func() Event { return &RootKeyCreated{} })
	register(func() Event { return &RootKeyRevoked{} })
}

// RootKeyStreamID names the stream of one root key.
func RootKeyStreamID(rootKeyID string) string { return "root_key-" + rootKeyID }

// HashKey is the only form in which keyline stores a key: base64 (standard,
// padded) of SHA-256 over the full key string, exactly as Unkey does, so keys
// migrated between the two keep verifying.
func HashKey(plaintext string) string {
	var buf [KeyHashLen]byte
	return string(AppendKeyHash(buf[:0], plaintext))
}

// KeyHashLen is the length of HashKey's answer.
const KeyHashLen = 44

// AppendKeyHash appends HashKey(plaintext) to dst. A cache lookup with a
// stack buffer and m[string(b)] then allocates nothing on a hit.
func AppendKeyHash(dst []byte, plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// RootKeyIDForHash derives a root key ID from the key's hash. A root key
// supplied through configuration has no creation request to carry an ID, and
// several nodes may start together; deriving the ID sends them all to one
// stream so exactly one creation lands.
func RootKeyIDForHash(hash string) string {
	sum := sha256.Sum256([]byte("root_key:" + hash))
	return "key_" + hex.EncodeToString(sum[:])[:16]
}

// RootKey is the folded state of a root key stream.
type RootKey struct {
	ID          string
	WorkspaceID string
	Revoked     bool
	Version     int64
}

// Exists reports whether the stream holds a creation event.
func (k *RootKey) Exists() bool { return k.Version > 0 }

// Apply folds one event into the state.
func (k *RootKey) Apply(e Event) {
	switch e := e.(type) {
	case RootKeyCreated:
		k.ID, k.WorkspaceID = e.RootKeyID, e.WorkspaceID
	case RootKeyRevoked:
		k.Revoked = true
	}
	k.Version++
}

// Revoke decides the revocation of the key. Revoking twice is an error
// rather than a no-op: the operator named a key they believe is live, and
// learning that it was not is worth an exit code.
func (k *RootKey) Revoke(reason string) ([]Event, error) {
	switch {
	case !k.Exists():
		return nil, ErrNotFound
	case k.Revoked:
		return nil, ErrRevoked
	}
	return []Event{RootKeyRevoked{RootKeyID: k.ID, WorkspaceID: k.WorkspaceID, Reason: reason}}, nil
}

// Create decides the creation of a root key. The workspace must exist: a root
// key that points nowhere would authenticate into a void.
func (k *RootKey) Create(ws *Workspace, c RootKeyCreated) ([]Event, error) {
	if !ws.Exists() {
		return nil, ErrNotFound
	}
	if k.Exists() {
		return nil, ErrAlreadyExists
	}
	c.WorkspaceID = ws.ID
	c.Permissions = dedupe(c.Permissions)
	return []Event{c}, nil
}

func dedupe(in []string) []string {
	seen := make(map[string]struct{}, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if _, ok := seen[s]; ok || s == "" {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}
