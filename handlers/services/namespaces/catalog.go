// Package namespaces keeps the node-local catalog of rate-limit namespaces
// and their overrides that ratelimit.limit reads instead of the database.
package namespaces

import (
	"context"
	"strings"
	"sync"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// Reader is the read model of namespaces and overrides the catalog loads from.
type Reader interface {
	RatelimitNamespace(ctx context.Context, workspaceID, ref string) (projections.RatelimitNamespaceRow, error)
	RatelimitOverrides(ctx context.Context, namespaceID string) ([]projections.RatelimitOverrideRow, error)
}

// Namespace is a namespace as the hot path needs it: identity,
// state and its overrides, indexed for matching.
type Namespace struct {
	ID        string
	Name      string
	Deleted   bool
	Overrides *events.OverrideMatcher
}

// Catalog is the node-local cache of namespaces and their
// overrides, so that ratelimit.limit does no database round trip: it costs a
// map lookup plus the counter decision. It follows the log: the tailer hands
// it every event (changes made by other nodes), and the store's commit hook
// hands it this node's own appends synchronously, so the next request on the
// writing node already sees its change. Other nodes see it after their next
// poll of the log (projections.pollIntervalMs).
//
// Unknown namespaces are not cached: the next request either auto-creates
// the namespace or is refused, and a namespace created by another node must
// be found at once.
type Catalog struct {
	reader Reader

	mu sync.RWMutex
	// byRef maps workspace + the reference a client used (name or ID).
	byRef map[nsRef]*Namespace
	byID  map[string][]nsRef
	// gen changes with every invalidation, so a lookup that raced one does
	// not store what it read before the change.
	gen uint64
}

type nsRef struct{ workspaceID, ref string }

// New builds an empty catalog.
func New(reader Reader) *Catalog {
	return &Catalog{reader: reader, byRef: map[nsRef]*Namespace{}, byID: map[string][]nsRef{}}
}

// Namespace resolves ref (name or ID) in workspaceID through the cache.
// It returns events.ErrNotFound for a namespace that never existed; a
// deleted one is returned with Deleted set.
func (c *Catalog) Namespace(ctx context.Context, workspaceID, ref string) (*Namespace, error) {
	key := nsRef{workspaceID, ref}
	c.mu.RLock()
	ns, ok := c.byRef[key]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return ns, nil
	}
	ns, err := c.load(ctx, workspaceID, ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.byRef[key] = ns
		c.byID[ns.ID] = append(c.byID[ns.ID], key)
	}
	c.mu.Unlock()
	return ns, nil
}

func (c *Catalog) load(ctx context.Context, workspaceID, ref string) (*Namespace, error) {
	row, err := c.reader.RatelimitNamespace(ctx, workspaceID, ref)
	if err != nil {
		return nil, err
	}
	ns := &Namespace{ID: row.ID, Name: row.Name, Deleted: row.DeletedAt != nil}
	if ns.Deleted {
		return ns, nil
	}
	rows, err := c.reader.RatelimitOverrides(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	ns.Overrides = Matcher(rows)
	return ns, nil
}

// Matcher indexes override rows for matching identifiers.
func Matcher(rows []projections.RatelimitOverrideRow) *events.OverrideMatcher {
	rules := make([]events.OverrideRule, len(rows))
	for i, r := range rows {
		rules[i] = events.OverrideRule{ID: r.ID, Identifier: r.Identifier, Limit: r.Limit, DurationMs: r.DurationMs}
	}
	return events.NewOverrideMatcher(rules)
}

// Observe drops what an event changes (a log follower: sqlstore.Tailer.Follow).
func (c *Catalog) Observe(rec events.Recorded) {
	if !strings.HasPrefix(rec.Name, "ratelimit_namespace.") && !strings.HasPrefix(rec.Name, "ratelimit_override.") {
		return
	}
	e, err := rec.Decode()
	if err != nil {
		// Undecodable means a newer build wrote it; forget everything
		// rather than serve what it may have changed.
		c.mu.Lock()
		c.byRef, c.byID = map[nsRef]*Namespace{}, map[string][]nsRef{}
		c.gen++
		c.mu.Unlock()
		return
	}
	var nsID string
	switch e := e.(type) {
	case events.RatelimitNamespaceCreated:
		nsID = e.NamespaceID
	case events.RatelimitNamespaceDeleted:
		nsID = e.NamespaceID
	case events.RatelimitOverrideSet:
		nsID = e.NamespaceID
	case events.RatelimitOverrideDeleted:
		nsID = e.NamespaceID
	}
	c.mu.Lock()
	for _, key := range c.byID[nsID] {
		delete(c.byRef, key)
	}
	delete(c.byID, nsID)
	c.gen++
	c.mu.Unlock()
}
