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
}

func (RootKeyCreated) EventName() string { return "root_key.created" }
func (RootKeyCreated) EventVersion() int { return 1 }
func (e *RootKeyCreated) value() Event   { return *e }
func init()                              { register(func() Event { return &RootKeyCreated{} }) }

// RootKeyStreamID names the stream of one root key.
func RootKeyStreamID(rootKeyID string) string { return "root_key-" + rootKeyID }

// HashKey is the only form in which keyline stores a key: base64 (standard,
// padded) of SHA-256 over the full key string, exactly as Unkey does, so keys
// migrated between the two keep verifying.
func HashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return base64.StdEncoding.EncodeToString(sum[:])
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
	Version     int64
}

// Exists reports whether the stream holds a creation event.
func (k *RootKey) Exists() bool { return k.Version > 0 }

// Apply folds one event into the state.
func (k *RootKey) Apply(e Event) {
	if c, ok := e.(RootKeyCreated); ok {
		k.ID, k.WorkspaceID = c.RootKeyID, c.WorkspaceID
	}
	k.Version++
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
