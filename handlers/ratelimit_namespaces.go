package handlers

import (
	"context"
	"errors"
	"slices"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/namespaces"
	"github.com/keyline/keyline/projections"
)

// RatelimitReader is the read model of namespaces and overrides: what the
// catalog loads, and the pages of overrides.
type RatelimitReader interface {
	namespaces.Reader
	ListRatelimitOverrides(ctx context.Context, namespaceID, cursor string, limit int) ([]projections.RatelimitOverrideRow, error)
}

const (
	namespaceNotFoundDetail = "This namespace does not exist."
	namespaceGoneDetail     = "This namespace has been deleted. Contact support to restore."
	overrideNotFoundDetail  = "This override does not exist."
)

// namespacesForLimit resolves the namespaces a limit request names, creating missing
// ones when p may, and checks p's limit permission on all of them. The order
// follows Unkey: a deleted namespace is 410, a missing one needs
// create_namespace, then the limit permission applies. Unlike Unkey, the
// limit permission is checked before anything is created (the ID of a new
// namespace is known in advance), so a refused request creates nothing.
//
// found[i] receives the namespace of refs[i]; the caller sizes it, so that
// the common request of one check allocates nothing here.
func namespacesForLimit(ctx context.Context, c *namespaces.Catalog, log EventLog, p *Principal, refs []string, found []*namespaces.Namespace) error {
	var missing []int // indexes into refs, one per name
	for i, ref := range refs {
		ns, err := c.Namespace(ctx, p.WorkspaceID, ref)
		switch {
		case errors.Is(err, events.ErrNotFound):
			found[i] = nil
			if !slices.ContainsFunc(missing, func(j int) bool { return refs[j] == ref }) {
				missing = append(missing, i)
			}
			continue
		case err != nil:
			return Internal("reading ratelimit namespace", err)
		case ns.Deleted:
			return Fail(CodeRatelimitNamespaceGone, namespaceGoneDetail)
		}
		found[i] = ns
	}
	if len(missing) > 0 {
		if err := p.RequireAny("ratelimit.*.create_namespace"); err != nil {
			return err
		}
	}
	if !p.Has("ratelimit.*.limit") {
		for i, ref := range refs {
			id := events.RatelimitNamespaceIDFor(p.WorkspaceID, ref)
			if ns := found[i]; ns != nil {
				id = ns.ID
			}
			if err := p.RequireAny("ratelimit.*.limit", "ratelimit."+id+".limit"); err != nil {
				return err
			}
		}
	}
	for _, i := range missing {
		ns, err := createNamespace(ctx, c, log, p, refs[i])
		if err != nil {
			return err
		}
		for j := i; j < len(refs); j++ {
			if refs[j] == refs[i] {
				found[j] = ns
			}
		}
	}
	return nil
}

// createNamespace auto-creates the namespace called name. Several nodes may race to
// create it; the derived ID makes them append to one stream, and the losers
// read the winner's namespace.
func createNamespace(ctx context.Context, c *namespaces.Catalog, log EventLog, p *Principal, name string) (*namespaces.Namespace, error) {
	id := events.RatelimitNamespaceIDFor(p.WorkspaceID, name)
	meta := metaFor(ctx, p)
	_, err := update(ctx, log, events.RatelimitNamespaceStreamID(id), &meta, "ratelimit namespace", func(agg *events.RatelimitNamespace) ([]events.Event, error) {
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
