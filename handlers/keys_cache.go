package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/keyline/keyline/events"
)

// verifyEntry is everything keys.verifyKey needs about one key hash, so
// that verifying a known key costs no database round trip (limited keys
// still pay one conditional UPDATE for their credits).
type verifyEntry struct {
	found bool
	// negative entries expire; positive ones live until an event drops them.
	until       time.Time
	keyID       string
	workspaceID string
	apiID       string
	keySpaceID  string
	apiLive     bool
	// workspaceDisabled: the key's workspace is switched off (FORBIDDEN).
	workspaceDisabled bool
	// allowedIPs is the API's IP allow-list, canonical (unmapped, no zone);
	// nil accepts every client.
	allowedIPs  []netip.Addr
	name        string
	meta        json.RawMessage
	enabled     bool
	expires     *int64
	limited     bool
	permissions []string // direct then role-derived slugs, duplicates kept (Unkey's UNION ALL)
	permSet     map[string]struct{}
	roles       []string
	identity    *IdentityData
	ratelimits  []events.Ratelimit
	// identityRatelimits are the identity's configs; their counters are
	// keyed by the identity ID, so every key of the identity shares them.
	identityRatelimits []events.Ratelimit
}

// negativeTTL bounds how long an unknown hash is remembered. A creation
// drops the entry at once (key.created carries the hash); the TTL is only a
// safety net, short enough to be harmless if an event were ever missed.
const negativeTTL = 10 * time.Second

// maxNegative caps remembered unknown hashes, so a flood of random keys
// cannot grow the cache without bound.
const maxNegative = 100_000

// KeyCache caches verification data by key hash, positive and negative.
//
// It follows the log (Observe, registered with sqlstore.Tailer.Follow):
// every node sees every event through the tailer, and the writing node also
// synchronously after each local append, so the next verification on that
// node already sees a write.
// Reverse indexes (key ID, API ID, identity ID → hashes) make an
// invalidation touch only the affected entries. A fill that raced an
// invalidation is discarded (the generation check), so a stale read can
// never be cached after the event that outdated it.
type KeyCache struct {
	reader KeyReader
	now    func() time.Time

	mu         sync.RWMutex
	gen        uint64
	entries    map[string]*verifyEntry
	negatives  int
	byKey      map[string]string
	byAPI      map[string]map[string]struct{}
	byIdentity map[string]map[string]struct{}
}

// NewKeyCache builds an empty cache; the server makes it follow the log.
func NewKeyCache(r KeyReader) *KeyCache {
	return &KeyCache{reader: r, now: time.Now, entries: map[string]*verifyEntry{}, byKey: map[string]string{},
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
func (c *KeyCache) Observe(rec events.Recorded) {
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
		c.entries, c.negatives = map[string]*verifyEntry{}, 0
		c.byKey, c.byAPI, c.byIdentity = map[string]string{}, map[string]map[string]struct{}{}, map[string]map[string]struct{}{}
	}
}

func (c *KeyCache) drop(hash string) {
	e, ok := c.entries[hash]
	if hash == "" || !ok {
		return
	}
	delete(c.entries, hash)
	if !e.found {
		c.negatives--
		return
	}
	delete(c.byKey, e.keyID)
	unindex(c.byAPI, e.apiID, hash)
	if e.identity != nil {
		unindex(c.byIdentity, e.identity.ID, hash)
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

// get returns the entry for hash, loading it on a miss.
func (c *KeyCache) get(ctx context.Context, hash string) (*verifyEntry, error) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	gen := c.gen
	c.mu.RUnlock()
	if ok && (e.found || c.now().Before(e.until)) {
		return e, nil
	}
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
	if !e.found {
		if c.negatives >= maxNegative {
			return e, nil
		}
		c.negatives++
	} else {
		c.byKey[e.keyID] = hash
		index(c.byAPI, e.apiID, hash)
		if e.identity != nil {
			index(c.byIdentity, e.identity.ID, hash)
		}
	}
	c.entries[hash] = e
	return e, nil
}

func (c *KeyCache) load(ctx context.Context, hash string) (*verifyEntry, error) {
	row, err := c.reader.KeyByHash(ctx, hash)
	if errors.Is(err, events.ErrNotFound) {
		return &verifyEntry{until: c.now().Add(negativeTTL)}, nil
	}
	if err != nil {
		return nil, err
	}
	e := &verifyEntry{found: true, keyID: row.ID, workspaceID: row.WorkspaceID, apiID: row.APIID, keySpaceID: row.KeySpaceID, apiLive: true,
		name: row.Name, enabled: row.Enabled, expires: row.Expires, ratelimits: row.RatelimitList(), permSet: map[string]struct{}{}}
	if row.Meta != "" {
		e.meta = json.RawMessage(row.Meta)
	}
	if api, err := c.reader.APIForCache(ctx, row.WorkspaceID, row.APIID); errors.Is(err, events.ErrNotFound) {
		e.apiLive = false
	} else if err != nil {
		return nil, err
	} else {
		for _, ip := range api.IPs() {
			// The projection only holds what events.NormalizeIPs accepted.
			if addr, err := netip.ParseAddr(ip); err == nil {
				e.allowedIPs = append(e.allowedIPs, addr)
			}
		}
	}
	ws, err := c.reader.Workspace(ctx, row.WorkspaceID)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, err
	}
	e.workspaceDisabled = err == nil && !ws.Enabled()
	access, err := c.reader.KeyAccess(ctx, []string{row.ID})
	if err != nil {
		return nil, err
	}
	a := access[row.ID]
	for _, p := range a.Direct {
		e.permissions = append(e.permissions, p.Slug)
	}
	e.permissions = append(e.permissions, a.RolePermissions...)
	for _, s := range e.permissions {
		e.permSet[s] = struct{}{}
	}
	for _, r := range a.Roles {
		e.roles = append(e.roles, r.Name)
	}
	credits, ok, err := c.reader.Credits(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	e.limited = ok && credits.Remaining != nil
	if row.IdentityID != "" {
		irow, err := c.reader.Identity(ctx, row.IdentityID)
		if err != nil && !errors.Is(err, events.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			e.identity = identityData(irow)
			e.identityRatelimits = irow.RatelimitList()
		}
	}
	return e, nil
}
