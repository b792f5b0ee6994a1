package apicache

import (
	"context"
	"errors"
	"testing"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/servicetest"
	"github.com/keyline/keyline/projections"
)

// fillReader counts the fills that reach the read model and runs during,
// when set, between a fill's read and its return.
type fillReader struct {
	*projections.Reader
	during func()
	loads  int
}

func (r *fillReader) APIForCache(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error) {
	r.loads++
	row, err := r.Reader.APIForCache(ctx, workspaceID, apiID)
	if r.during != nil {
		r.during()
	}
	return row, err
}

func TestCacheFollowsTheLog(t *testing.T) {
	t.Parallel()
	s := servicetest.Open(t, "sqlite")
	r := &fillReader{Reader: s.Reader}
	c := New(r)
	ctx := context.Background()
	stream := events.APIStreamID("api_1")

	// Unknown APIs are not remembered: one created meanwhile is found at once.
	if _, err := c.API(ctx, "ws_1", "api_1"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("unknown api: %v", err)
	}
	s.AppendObserved(t, c.Observe, stream, 0, events.APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "payments"})
	loads := r.loads
	for range 3 {
		row, err := c.API(ctx, "ws_1", "api_1")
		if err != nil || row.ID != "api_1" || row.KeySpaceID != "ks_1" || row.Name != "payments" {
			t.Fatalf("created api: %+v %v", row, err)
		}
	}
	if r.loads != loads+1 {
		t.Fatalf("three lookups read the table %d times, want once", r.loads-loads)
	}

	// Another workspace's API looks absent, cached or not.
	if _, err := c.API(ctx, "ws_2", "api_1"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("foreign api: %v", err)
	}

	// Events of other aggregates leave the entry alone.
	c.Observe(events.Recorded{Name: "key.created", Payload: []byte(`{"apiId":"api_1"}`)})
	if _, err := c.API(ctx, "ws_1", "api_1"); err != nil || r.loads != loads+1 {
		t.Fatalf("after key.created: %v, %d loads", err, r.loads-loads)
	}

	// A change of the API is read again.
	s.AppendObserved(t, c.Observe, stream, 1, events.APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_1", IPs: []string{"10.0.0.1"}})
	if row, err := c.API(ctx, "ws_1", "api_1"); err != nil || row.IPAllowlist != "10.0.0.1" || r.loads != loads+2 {
		t.Fatalf("after allow-list change: %+v %v, %d loads", row, err, r.loads-loads)
	}

	// A deleted API is refused at once.
	s.AppendObserved(t, c.Observe, stream, 2, events.APIDeleted{APIID: "api_1", WorkspaceID: "ws_1"})
	if row, err := c.API(ctx, "ws_1", "api_1"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("deleted api served: %+v %v", row, err)
	}
}

// A fill that read the table before an invalidation must not be stored
// after it: the next lookup reads again.
func TestFillRacingAnInvalidationIsNotKept(t *testing.T) {
	t.Parallel()
	s := servicetest.Open(t, "sqlite")
	ctx := context.Background()
	recs, err := s.Log.Append(ctx, events.APIStreamID("api_1"), 0, events.Metadata{WorkspaceID: "ws_1"},
		events.APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	var c *Cache
	r := &fillReader{Reader: s.Reader, during: func() { c.Observe(recs[0]) }}
	c = New(r)
	if _, err := c.API(ctx, "ws_1", "api_1"); err != nil {
		t.Fatal(err)
	}
	r.during = nil
	if _, err := c.API(ctx, "ws_1", "api_1"); err != nil || r.loads != 2 {
		t.Fatalf("second lookup: %v after %d loads, want 2", err, r.loads)
	}
}
