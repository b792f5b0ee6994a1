// Package keycache caches by key hash what keys.verifyKey needs to know
// about a key, following the log to drop what an event outdates.
package keycache

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// Reader is the read model the cache fills from.
type Reader interface {
	KeyByHash(ctx context.Context, hash string) (projections.KeyRow, error)
	APIForCache(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error)
	Workspace(ctx context.Context, id string) (projections.WorkspaceRow, error)
	KeyAccess(ctx context.Context, keyIDs []string) (map[string]*projections.KeyAccess, error)
	Credits(ctx context.Context, keyID string) (projections.KeyCreditsRow, bool, error)
	Identity(ctx context.Context, id string) (projections.IdentityRow, error)
}

// Entry is everything keys.verifyKey needs about one key hash, so that
// verifying a known key costs no database round trip (limited keys still pay
// one conditional UPDATE for their credits). Entries are shared: read only.
type Entry struct {
	Found bool
	// negative entries expire; positive ones live until an event drops them.
	until       time.Time
	KeyID       string
	WorkspaceID string
	APIID       string
	KeySpaceID  string
	APILive     bool
	// WorkspaceDisabled: the key's workspace is switched off (FORBIDDEN).
	WorkspaceDisabled bool
	// AllowedIPs is the API's IP allow-list, canonical (unmapped, no zone);
	// nil accepts every client.
	AllowedIPs  []netip.Addr
	Name        string
	Meta        json.RawMessage
	Enabled     bool
	Expires     *int64
	Limited     bool
	Permissions []string // direct then role-derived slugs, duplicates kept (Unkey's UNION ALL)
	PermSet     map[string]struct{}
	Roles       []string
	Identity    *Identity
	Ratelimits  []events.Ratelimit
}

// Identity is the identity a key belongs to.
type Identity struct {
	ID         string
	ExternalID string
	Meta       json.RawMessage
	// Ratelimits are the identity's configs; their counters are keyed by
	// the identity ID, so every key of the identity shares them.
	Ratelimits []events.Ratelimit
}

// negativeTTL bounds how long an unknown hash is remembered. A creation
// drops the entry at once (key.created carries the hash); the TTL is only a
// safety net, short enough to be harmless if an event were ever missed.
const negativeTTL = 10 * time.Second

// maxNegative caps remembered unknown hashes, so a flood of random keys
// cannot grow the cache without bound.
const maxNegative = 100_000

// Cache caches verification data by key hash, positive and negative.
//
// It follows the log (Observe, registered with sqlstore.Tailer.Follow):
// every node sees every event through the tailer, and the writing node also
// synchronously after each local append, so the next verification on that
// node already sees a write.
// Reverse indexes (key ID, API ID, identity ID → hashes) make an
// invalidation touch only the affected entries. A fill that raced an
// invalidation is discarded (the generation check), so a stale read can
// never be cached after the event that outdated it.
type Cache struct {
	reader Reader
	now    func() time.Time

	mu         sync.RWMutex
	gen        uint64
	entries    map[string]*Entry
	negatives  int
	byKey      map[string]string
	byAPI      map[string]map[string]struct{}
	byIdentity map[string]map[string]struct{}
}

// New builds an empty cache; the server makes it follow the log.
func New(r Reader) *Cache {
	return &Cache{reader: r, now: time.Now, entries: map[string]*Entry{}, byKey: map[string]string{},
		byAPI: map[string]map[string]struct{}{}, byIdentity: map[string]map[string]struct{}{}}
}

type touched struct {
	KeyID      string `json:"keyId"`
	APIID      string `json:"apiId"`
	IdentityID string `json:"identityId"`
	Hash       string `json:"hash"`
	OldHash    string `json:"oldHash"`
}

// Observe drops the entries an event may have outdated.
func (c *Cache) Observe(rec events.Recorded) {
	if rec.Name == "key.credits_spent" {
		return // balances are never cached
	}
	var t touched
	_ = json.Unmarshal(rec.Payload, &t)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case strings.HasPrefix(rec.Name, "key."):
		c.drop(c.byKey[t.KeyID])
		c.drop(t.Hash)
		c.drop(t.OldHash)
	case strings.HasPrefix(rec.Name, "api."):
		for h := range c.byAPI[t.APIID] {
			c.drop(h)
		}
	case strings.HasPrefix(rec.Name, "identity."):
		for h := range c.byIdentity[t.IdentityID] {
			c.drop(h)
		}
	case strings.HasPrefix(rec.Name, "permission."), strings.HasPrefix(rec.Name, "role."), strings.HasPrefix(rec.Name, "workspace."):
		// Rare, and one role or permission can touch many keys: start over.
		c.entries, c.negatives = map[string]*Entry{}, 0
		c.byKey, c.byAPI, c.byIdentity = map[string]string{}, map[string]map[string]struct{}{}, map[string]map[string]struct{}{}
	}
}

func (c *Cache) drop(hash string) {
	e, ok := c.entries[hash]
	if hash == "" || !ok {
		return
	}
	delete(c.entries, hash)
	if !e.Found {
		c.negatives--
		return
	}
	delete(c.byKey, e.KeyID)
	unindex(c.byAPI, e.APIID, hash)
	if e.Identity != nil {
		unindex(c.byIdentity, e.Identity.ID, hash)
	}
}

func unindex(m map[string]map[string]struct{}, id, hash string) {
	if set := m[id]; set != nil {
		delete(set, hash)
		if len(set) == 0 {
			delete(m, id)
		}
	}
}

func index(m map[string]map[string]struct{}, id, hash string) {
	if m[id] == nil {
		m[id] = map[string]struct{}{}
	}
	m[id][hash] = struct{}{}
}

// Get returns the entry for hash, loading it on a miss.
func (c *Cache) Get(ctx context.Context, hash string) (*Entry, error) {
	return c.get(ctx, []byte(hash))
}

// GetKey returns the entry for plaintext's hash (events.HashKey), loading it
// on a miss. The hash lives in a stack buffer: a hit allocates nothing.
func (c *Cache) GetKey(ctx context.Context, plaintext string) (*Entry, error) {
	var buf [events.KeyHashLen]byte
	return c.get(ctx, events.AppendKeyHash(buf[:0], plaintext))
}

func (c *Cache) get(ctx context.Context, hashed []byte) (*Entry, error) {
	c.mu.RLock()
	e, ok := c.entries[string(hashed)]
	gen := c.gen
	c.mu.RUnlock()
	if ok && (e.Found || c.now().Before(e.until)) {
		return e, nil
	}
	hash := string(hashed)
	e, err := c.load(ctx, hash)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return e, nil // an invalidation raced the load: use it once, do not keep it
	}
	c.drop(hash)
	if !e.Found {
		if c.negatives >= maxNegative {
			return e, nil
		}
		c.negatives++
	} else {
		c.byKey[e.KeyID] = hash
		index(c.byAPI, e.APIID, hash)
		if e.Identity != nil {
			index(c.byIdentity, e.Identity.ID, hash)
		}
	}
	c.entries[hash] = e
	return e, nil
}

func (c *Cache) load(ctx context.Context, hash string) (*Entry, error) {
	row, err := c.reader.KeyByHash(ctx, hash)
	if errors.Is(err, events.ErrNotFound) {
		return &Entry{until: c.now().Add(negativeTTL)}, nil
	}
	if err != nil {
		return nil, err
	}
	e := &Entry{Found: true, KeyID: row.ID, WorkspaceID: row.WorkspaceID, APIID: row.APIID, KeySpaceID: row.KeySpaceID, APILive: true,
		Name: row.Name, Enabled: row.Enabled, Expires: row.Expires, Ratelimits: row.RatelimitList(), PermSet: map[string]struct{}{}}
	if row.Meta != "" {
		e.Meta = json.RawMessage(row.Meta)
	}
	if api, err := c.reader.APIForCache(ctx, row.WorkspaceID, row.APIID); errors.Is(err, events.ErrNotFound) {
		e.APILive = false
	} else if err != nil {
		return nil, err
	} else {
		for _, ip := range api.IPs() {
			// The projection only holds what events.NormalizeIPs accepted.
			if addr, err := netip.ParseAddr(ip); err == nil {
				e.AllowedIPs = append(e.AllowedIPs, addr)
			}
		}
	}
	ws, err := c.reader.Workspace(ctx, row.WorkspaceID)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, err
	}
	e.WorkspaceDisabled = err == nil && !ws.Enabled()
	access, err := c.reader.KeyAccess(ctx, []string{row.ID})
	if err != nil {
		return nil, err
	}
	a := access[row.ID]
	for _, p := range a.Direct {
		e.Permissions = append(e.Permissions, p.Slug)
	}
	e.Permissions = append(e.Permissions, a.RolePermissions...)
	for _, s := range e.Permissions {
		e.PermSet[s] = struct{}{}
	}
	for _, r := range a.Roles {
		e.Roles = append(e.Roles, r.Name)
	}
	credits, ok, err := c.reader.Credits(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	e.Limited = ok && credits.Remaining != nil
	if row.IdentityID != "" {
		irow, err := c.reader.Identity(ctx, row.IdentityID)
		if err != nil && !errors.Is(err, events.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			e.Identity = &Identity{ID: irow.ID, ExternalID: irow.ExternalID, Ratelimits: irow.RatelimitList()}
			if irow.Meta != "" {
				e.Identity.Meta = json.RawMessage(irow.Meta)
			}
		}
	}
	return e, nil
}
