package projections_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// failingLog is a memLog whose read after position failAfter fails.
type failingLog struct {
	*memLog
	failAfter int64
}

var errPageLost = errors.New("page lost")

func (l failingLog) ReadAfter(ctx context.Context, db bun.IDB, after int64, limit int) ([]events.Recorded, error) {
	if after == l.failAfter {
		return nil, errPageLost
	}
	return l.memLog.ReadAfter(ctx, db, after, limit)
}

// A log of several pages goes through the read, decode and fold stages in
// order (every key row holds the name its last update gave it, which a
// page folded out of order would not), and a page that cannot be read
// fails the replay, leaving the tables as they were.
func TestReplayOverManyPages(t *testing.T) {
	h := newHarness(t)
	const keys = 12_000 // with their updates, more than two pages of the log
	var evs []events.Event
	for i := range keys {
		id := fmt.Sprintf("key_%05d", i)
		evs = append(evs, events.KeyCreated{KeyID: id, WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1",
			Hash: "h" + id, Start: "s", Name: "first"})
	}
	for i := range keys {
		// key i is renamed twice, the second time on a later page.
		id := fmt.Sprintf("key_%05d", i)
		evs = append(evs, events.KeyUpdated{KeyID: id, WorkspaceID: "ws_1", Name: &events.Change[string]{Value: ptr("second")}})
	}
	for i := range keys {
		id := fmt.Sprintf("key_%05d", i)
		evs = append(evs, events.KeyUpdated{KeyID: id, WorkspaceID: "ws_1", Name: &events.Change[string]{Value: ptr(fmt.Sprintf("third %d", i))}})
	}
	h.apply(evs...)
	live := h.dump()

	lost := failingLog{memLog: h.log, failAfter: 20_000}
	if _, err := h.runner.Rebuild(context.Background(), lost, nil, nil); !errors.Is(err, errPageLost) {
		t.Fatalf("replay over a lost page: %v, want %v", err, errPageLost)
	}
	assertSameDump(t, live, h.dump())

	n, err := h.runner.Rebuild(context.Background(), h.log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3*keys {
		t.Fatalf("replay went through %d events, want %d", n, 3*keys)
	}
	assertSameDump(t, live, h.dump())
	rows := rowsOf[projections.KeyRow](t, h.db)
	if len(rows) != keys {
		t.Fatalf("%d keys, want %d", len(rows), keys)
	}
	for i, r := range rows {
		if want := fmt.Sprintf("third %d", i); r.Name != want {
			t.Fatalf("key %s is named %q, want %q", r.ID, r.Name, want)
		}
	}
}
