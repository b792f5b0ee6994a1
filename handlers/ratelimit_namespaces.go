package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// RatelimitReader is the read model of namespaces and overrides.
type RatelimitReader interface {
	RatelimitNamespace(ctx context.Context, workspaceID, ref string) (projections.RatelimitNamespaceRow, error)
	RatelimitOverrides(ctx context.Context, namespaceID string) ([]projections.RatelimitOverrideRow, error)
	ListRatelimitOverrides(ctx context.Context, namespaceID, cursor string, limit int) ([]projections.RatelimitOverrideRow, error)
}

const (
	namespaceNotFoundDetail = "This namespace does not exist."
	namespaceGoneDetail     = "This namespace has been deleted. Contact support to restore."
	overrideNotFoundDetail  = "This override does not exist."
)

// RatelimitNamespace is a namespace as the hot path needs it: identity,
// state and its overrides, indexed for matching.
type RatelimitNamespace struct {
	ID        string
	Name      string
	Deleted   bool
	Overrides *events.OverrideMatcher
}

// RatelimitCatalog is the node-local cache of namespaces and their
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
type RatelimitCatalog struct {
	reader RatelimitReader
	log    EventLog

	mu sync.RWMutex
	// byRef maps workspace + the reference a client used (name or ID).
	byRef map[nsRef]*RatelimitNamespace
	byID  map[string][]nsRef
	// gen changes with every invalidation, so a lookup that raced one does
	// not store what it read before the change.
	gen uint64
}

type nsRef struct{ workspaceID, ref string }

// NewRatelimitCatalog builds an empty catalog.
func NewRatelimitCatalog(reader RatelimitReader, log EventLog) *RatelimitCatalog {
	return &RatelimitCatalog{reader: reader, log: log, byRef: map[nsRef]*RatelimitNamespace{}, byID: map[string][]nsRef{}}
}

// Namespace resolves ref (name or ID) in workspaceID through the cache.
// It returns events.ErrNotFound for a namespace that never existed; a
// deleted one is returned with Deleted set.
func (c *RatelimitCatalog) Namespace(ctx context.Context, workspaceID, ref string) (*RatelimitNamespace, error) {
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

func (c *RatelimitCatalog) load(ctx context.Context, workspaceID, ref string) (*RatelimitNamespace, error) {
	row, err := c.reader.RatelimitNamespace(ctx, workspaceID, ref)
	if err != nil {
		return nil, err
	}
	ns := &RatelimitNamespace{ID: row.ID, Name: row.Name, Deleted: row.DeletedAt != nil}
	if ns.Deleted {
		return ns, nil
	}
	rows, err := c.reader.RatelimitOverrides(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	ns.Overrides = newMatcher(rows)
	return ns, nil
}

func newMatcher(rows []projections.RatelimitOverrideRow) *events.OverrideMatcher {
	rules := make([]events.OverrideRule, len(rows))
	for i, r := range rows {
		rules[i] = events.OverrideRule{ID: r.ID, Identifier: r.Identifier, Limit: r.Limit, DurationMs: r.DurationMs}
	}
	return events.NewOverrideMatcher(rules)
}

// Observe drops what an event changes (a log follower: sqlstore.Tailer.Follow).
func (c *RatelimitCatalog) Observe(rec events.Recorded) {
	if !strings.HasPrefix(rec.Name, "ratelimit_namespace.") && !strings.HasPrefix(rec.Name, "ratelimit_override.") {
		return
	}
	e, err := rec.Decode()
	if err != nil {
		// Undecodable means a newer build wrote it; forget everything
		// rather than serve what it may have changed.
		c.mu.Lock()
		c.byRef, c.byID = map[nsRef]*RatelimitNamespace{}, map[string][]nsRef{}
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

// forLimit resolves the namespaces a limit request names, creating missing
// ones when p may, and checks p's limit permission on all of them. The order
// follows Unkey: a deleted namespace is 410, a missing one needs
// create_namespace, then the limit permission applies. Unlike Unkey, the
// limit permission is checked before anything is created (the ID of a new
// namespace is known in advance), so a refused request creates nothing.
func (c *RatelimitCatalog) forLimit(ctx context.Context, p *Principal, refs []string) (map[string]*RatelimitNamespace, error) {
	found := make(map[string]*RatelimitNamespace, len(refs))
	var missing []string
	for _, ref := range refs {
		if _, seen := found[ref]; seen {
			continue
		}
		ns, err := c.Namespace(ctx, p.WorkspaceID, ref)
		switch {
		case errors.Is(err, events.ErrNotFound):
			found[ref] = nil
			missing = append(missing, ref)
			continue
		case err != nil:
			return nil, Internal("reading ratelimit namespace", err)
		case ns.Deleted:
			return nil, Fail(CodeRatelimitNamespaceGone, namespaceGoneDetail)
		}
		found[ref] = ns
	}
	if len(missing) > 0 {
		if err := p.RequireAny("ratelimit.*.create_namespace"); err != nil {
			return nil, err
		}
	}
	if !p.Has("ratelimit.*.limit") {
		for _, ref := range refs {
			id := events.RatelimitNamespaceIDFor(p.WorkspaceID, ref)
			if ns := found[ref]; ns != nil {
				id = ns.ID
			}
			if err := p.RequireAny("ratelimit.*.limit", "ratelimit."+id+".limit"); err != nil {
				return nil, err
			}
		}
	}
	for _, ref := range missing {
		ns, err := c.create(ctx, p, ref)
		if err != nil {
			return nil, err
		}
		found[ref] = ns
	}
	return found, nil
}

// create auto-creates the namespace called name. Several nodes may race to
// create it; the derived ID makes them append to one stream, and the losers
// read the winner's namespace.
func (c *RatelimitCatalog) create(ctx context.Context, p *Principal, name string) (*RatelimitNamespace, error) {
	id := events.RatelimitNamespaceIDFor(p.WorkspaceID, name)
	meta := metaFor(ctx, p)
	_, err := update(ctx, c.log, events.RatelimitNamespaceStreamID(id), &meta, "ratelimit namespace", func(agg *events.RatelimitNamespace) ([]events.Event, error) {
		decided, err := agg.Create(p.WorkspaceID, name)
		if errors.Is(err, events.ErrAlreadyExists) {
			return nil, nil // created by a racing node: use it
		}
		if err != nil {
			return nil, Internal("deciding ratelimit namespace creation", err)
		}
		return decided, nil
	})
	if err != nil {
		return nil, err
	}
	ns, err := c.Namespace(ctx, p.WorkspaceID, id)
	if err != nil {
		return nil, Internal("reading created ratelimit namespace", err)
	}
	if ns.Deleted {
		return nil, Fail(CodeRatelimitNamespaceGone, namespaceGoneDetail)
	}
	return ns, nil
}

// namespaceForOverrides resolves ref for the override endpoints from the
// read model rather than the cache: they are management calls, and a
// namespace just created or deleted on another node must show at once.
// Missing and deleted namespaces are the same 404 there; nothing is created.
func namespaceForOverrides(ctx context.Context, r RatelimitReader, workspaceID, ref string) (projections.RatelimitNamespaceRow, error) {
	row, err := r.RatelimitNamespace(ctx, workspaceID, ref)
	if errors.Is(err, events.ErrNotFound) || (err == nil && row.DeletedAt != nil) {
		return row, Fail(CodeRatelimitNamespaceNotFound, namespaceNotFoundDetail)
	}
	if err != nil {
		return row, Internal("reading ratelimit namespace", err)
	}
	return row, nil
}
