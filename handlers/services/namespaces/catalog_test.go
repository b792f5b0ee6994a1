package namespaces

import (
	"context"
	"errors"
	"testing"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/servicetest"
	"github.com/keyline/keyline/projections"
)

// countingReader counts the namespace loads that reach the read model.
type countingReader struct {
	*projections.Reader
	loads int
}

func (r *countingReader) RatelimitNamespace(ctx context.Context, workspaceID, ref string) (projections.RatelimitNamespaceRow, error) {
	r.loads++
	return r.Reader.RatelimitNamespace(ctx, workspaceID, ref)
}

func TestCatalogFollowsTheLog(t *testing.T) {
	t.Parallel()
	s := servicetest.Open(t, "sqlite")
	r := &countingReader{Reader: s.Reader}
	c := New(r)
	ctx := context.Background()
	appendObserved := func(stream string, version int64, evs ...events.Event) {
		t.Helper()
		s.AppendObserved(t, c.Observe, stream, version, evs...)
	}
	lookup := func(ref string) *Namespace {
		t.Helper()
		ns, err := c.Namespace(ctx, "ws_1", ref)
		if err != nil {
			t.Fatalf("namespace %q: %v", ref, err)
		}
		return ns
	}

	// Unknown namespaces are not cached: one created meanwhile is found at once.
	if _, err := c.Namespace(ctx, "ws_1", "api"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown namespace: %v", err)
	}
	id := events.RatelimitNamespaceIDFor("ws_1", "api")
	appendObserved(events.RatelimitNamespaceStreamID(id), 0, events.RatelimitNamespaceCreated{NamespaceID: id, WorkspaceID: "ws_1", Name: "api"})
	if ns := lookup("api"); ns.ID != id || ns.Deleted {
		t.Fatalf("created namespace: %+v", ns)
	}
	loads := r.loads
	if ns := lookup(id); ns.ID != id || r.loads != loads+1 {
		t.Fatalf("by ID: %+v after %d loads", ns, r.loads-loads)
	}
	lookup("api")
	lookup(id)
	if r.loads != loads+1 {
		t.Fatalf("cached references loaded again: %d loads", r.loads-loads)
	}

	// An override drops every reference to its namespace.
	override := events.RatelimitOverrideIDFor(id, "user_*")
	appendObserved(events.RatelimitOverrideStreamID(override), 0, events.RatelimitOverrideSet{OverrideID: override, NamespaceID: id,
		WorkspaceID: "ws_1", Identifier: "user_*", Limit: 2, DurationMs: 1000})
	rule, ok := lookup("api").Overrides.Match("user_42")
	if !ok || rule.ID != override || rule.Limit != 2 || rule.DurationMs != 1000 {
		t.Fatalf("override after set: %+v %v", rule, ok)
	}
	if _, ok := lookup(id).Overrides.Match("admin"); ok {
		t.Fatal("override matched another identifier")
	}

	// A deleted namespace is returned as deleted, not as missing.
	appendObserved(events.RatelimitNamespaceStreamID(id), 1, events.RatelimitNamespaceDeleted{NamespaceID: id, WorkspaceID: "ws_1"})
	if ns := lookup("api"); !ns.Deleted || ns.ID != id {
		t.Fatalf("deleted namespace: %+v", ns)
	}
}
