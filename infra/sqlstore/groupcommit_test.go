package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// gateApplier holds the appender inside the transaction of the append to
// stream "gate" until release is closed, so that the appends started
// meanwhile queue up and form the next group together. It refuses every
// event of stream "refused" with a failing statement (which, on
// PostgreSQL, aborts the transaction), and counts the calls and events it
// saw.
type gateApplier struct {
	release chan struct{}

	mu     sync.Mutex
	calls  int
	events []string // stream IDs, in the order applied
}

func (g *gateApplier) Apply(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	for _, r := range recs {
		if r.StreamID == "gate" {
			<-g.release
		}
		if r.StreamID == "refused" {
			_, err := tx.ExecContext(ctx, "INSERT INTO refusing_projection_table VALUES (1)")
			return fmt.Errorf("projection refused the event: %w", err)
		}
		if r.StreamID == "refusedlate" {
			// A projection whose failing write is held back (PostgreSQL's
			// pipelined group) learns of the failure only at COMMIT.
			if _, err := tx.ExecContext(ctx, "INSERT INTO refusing_projection_table VALUES (1)"); err != nil {
				return fmt.Errorf("projection refused the event: %w", err)
			}
		}
	}
	g.mu.Lock()
	for _, r := range recs {
		g.events = append(g.events, r.StreamID)
	}
	g.mu.Unlock()
	return nil
}

type outcome struct {
	recs []events.Recorded
	err  error
}

// queueBehindGate appends to "gate" and waits until the appender holds it,
// then starts each append of appends in order, each only once the one
// before is queued, so the group's order is the order given. It returns
// the channels the outcomes arrive on, gate's first.
func queueBehindGate(t *testing.T, store *sqlstore.Store, gate *gateApplier, appends []func() ([]events.Recorded, error)) []chan outcome {
	t.Helper()
	start := func(fn func() ([]events.Recorded, error)) chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			recs, err := fn()
			ch <- outcome{recs, err}
		}()
		return ch
	}
	gate.mu.Lock()
	calls := gate.calls
	gate.mu.Unlock()
	outs := []chan outcome{start(func() ([]events.Recorded, error) {
		return store.Append(context.Background(), "gate", 0, events.Metadata{}, created("gate"))
	})}
	// The gate's append has left the queue: it is in its transaction.
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return gate.calls > calls && store.Pending() == 0, fmt.Sprintf("applier calls %d, pending %d", gate.calls, store.Pending())
	})
	for i, fn := range appends {
		outs = append(outs, start(fn))
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			return store.Pending() == i+1, fmt.Sprintf("%d appends queued, want %d", store.Pending(), i+1)
		})
	}
	return outs
}

// appendTo is an append of one event to stream at version expected, for
// queueBehindGate; its request ID names the stream.
func appendTo(ctx context.Context, store *sqlstore.Store, stream string, expected int64) func() ([]events.Recorded, error) {
	return func() ([]events.Recorded, error) {
		return store.Append(ctx, stream, expected, events.Metadata{RequestID: "req_" + stream}, created(stream))
	}
}

// logStreams reads the whole log, fails t unless its positions run 1, 2, …
// without a gap, and returns each event as stream@version.
func logStreams(t *testing.T, store *sqlstore.Store) []string {
	t.Helper()
	recs, err := store.ReadAfter(context.Background(), nil, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	streams := make([]string, 0, len(recs))
	for i, r := range recs {
		if r.Position != int64(i)+1 {
			t.Fatalf("event %d has position %d: %+v", i, r.Position, recs)
		}
		streams = append(streams, fmt.Sprintf("%s@%d", r.StreamID, r.StreamVersion))
	}
	return streams
}

// One group of appends: a stale expected version and a refused projection
// each fail alone, the others commit together, two appends to one stream
// within the group see each other in order, and positions stay gap-free.
func TestGroupCommitFailsConflictsAlone(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		if _, err := store.Append(ctx, "moved", 0, events.Metadata{}, created("moved")); err != nil {
			t.Fatal(err)
		}
		outs := queueBehindGate(t, store, gate, []func() ([]events.Recorded, error){
			appendTo(ctx, store, "a", 0),
			appendTo(ctx, store, "moved", 0), // stale: "moved" is at version 1
			appendTo(ctx, store, "a", 1),     // sees the first append to "a" of this group
			appendTo(ctx, store, "refused", 0),
			appendTo(ctx, store, "b", 0),
			appendTo(ctx, store, "a", 1), // stale now: the group moved "a" to 2
		})
		before := store.AppendStats()
		close(gate.release)
		got := make([]outcome, len(outs))
		for i, ch := range outs {
			got[i] = <-ch
		}
		if got[0].err != nil {
			t.Fatalf("gate: %v", got[0].err)
		}
		for _, i := range []int{2, 6} {
			if !errors.Is(got[i].err, events.ErrVersionConflict) {
				t.Fatalf("append %d: err = %v, want ErrVersionConflict", i, got[i].err)
			}
		}
		if got[4].err == nil || !strings.Contains(got[4].err.Error(), "projection refused the event") {
			t.Fatalf("refused append: err = %v, want the projection's error", got[4].err)
		}
		type want struct {
			stream          string
			version, offset int64
		}
		head := got[0].recs[0].Position
		for i, w := range map[int]want{1: {"a", 1, 1}, 3: {"a", 2, 2}, 5: {"b", 1, 3}} {
			if got[i].err != nil || len(got[i].recs) != 1 {
				t.Fatalf("append %d: %v, %+v", i, got[i].err, got[i].recs)
			}
			r := got[i].recs[0]
			if r.StreamID != w.stream || r.StreamVersion != w.version || r.Position != head+w.offset || r.Meta.RequestID != "req_"+w.stream {
				t.Fatalf("append %d recorded %+v, want stream %s version %d position %d", i, r, w.stream, w.version, head+w.offset)
			}
		}
		after := store.AppendStats()
		if after.Commits-before.Commits != 2 || after.Appends-before.Appends != 4 {
			t.Fatalf("stats went from %+v to %+v, want 2 commits (the gate's, then the group's) of 4 appends", before, after)
		}
		// The log holds exactly the committed events, positions without gaps.
		streams := logStreams(t, store)
		if got, want := strings.Join(streams, " "), "moved@1 gate@1 a@1 a@2 b@1"; got != want {
			t.Fatalf("log holds %s, want %s", got, want)
		}
		gate.mu.Lock()
		applied := strings.Join(gate.events, " ")
		gate.mu.Unlock()
		if applied != "moved gate a a b" {
			t.Fatalf("the projections committed %q, want \"moved gate a a b\"", applied)
		}
		// The positions drawn go on from the head after a failed group.
		next, err := store.Append(ctx, "c", 0, events.Metadata{}, created("c"))
		if err != nil || next[0].Position != int64(len(streams))+1 {
			t.Fatalf("next append: %+v, %v; want position %d", next, err, len(streams)+1)
		}
	})
}

// A write the database refuses only when the group commits (on PostgreSQL
// the group's writes travel with its COMMIT) fails its own append alone:
// the group runs again with each append isolated, and the others commit
// with gap-free positions.
func TestGroupCommitRefusedAtCommitFailsAlone(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		outs := queueBehindGate(t, store, gate, []func() ([]events.Recorded, error){
			appendTo(ctx, store, "a", 0), appendTo(ctx, store, "refusedlate", 0), appendTo(ctx, store, "b", 0),
		})
		close(gate.release)
		got := make([]outcome, len(outs))
		for i, ch := range outs {
			got[i] = <-ch
		}
		for _, i := range []int{0, 1, 3} {
			if got[i].err != nil {
				t.Fatalf("append %d: %v", i, got[i].err)
			}
		}
		if got[2].err == nil || !strings.Contains(got[2].err.Error(), "refusing_projection_table") {
			t.Fatalf("refused append: err = %v, want the database's refusal", got[2].err)
		}
		if got[1].recs[0].Position != 2 || got[3].recs[0].Position != 3 {
			t.Fatalf("positions %d and %d, want 2 and 3", got[1].recs[0].Position, got[3].recs[0].Position)
		}
		if st := store.AppendStats(); st.Commits != 2 || st.Appends != 3 {
			t.Fatalf("stats %+v, want 3 appends in 2 commits", st)
		}
		recs, err := store.ReadAfter(ctx, nil, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var streams []string
		for _, r := range recs {
			streams = append(streams, fmt.Sprintf("%d:%s", r.Position, r.StreamID))
		}
		if got, want := strings.Join(streams, " "), "1:gate 2:a 3:b"; got != want {
			t.Fatalf("log holds %s, want %s", got, want)
		}
	})
}

// On PostgreSQL a group after this process's own commit reads nothing and
// guesses the head and the streams' versions. A wrong guess never commits:
// after another process appended, and with a stale expected version, the
// group runs again on what the log holds, the stale append fails alone
// with ErrVersionConflict, and positions stay gap-free.
func TestGroupCommitWrongGuessesRunAgain(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mine := sqlstore.NewStore(db, nil, nil)
		other := sqlstore.NewStore(db, nil, nil) // another process on the same database
		step := func(store *sqlstore.Store, stream string, expected int64, wantPos int64) {
			t.Helper()
			recs, err := store.Append(ctx, stream, expected, events.Metadata{}, created(stream))
			if err != nil || len(recs) != 1 || recs[0].Position != wantPos || recs[0].StreamVersion != expected+1 {
				t.Fatalf("append to %s@%d: %+v, %v; want position %d", stream, expected, recs, err, wantPos)
			}
		}
		step(mine, "a", 0, 1)  // head unknown: read
		step(mine, "a", 1, 2)  // guessed right
		step(other, "b", 0, 3) // the head moves under mine's guess
		step(mine, "a", 2, 4)  // guessed wrong (head 2): runs again
		if _, err := mine.Append(ctx, "a", 2, events.Metadata{}, created("a")); !errors.Is(err, events.ErrVersionConflict) {
			t.Fatalf("stale append: %v, want ErrVersionConflict", err)
		}
		step(mine, "c", 0, 5)

		st := mine.AppendStats()
		if st.Commits != 4 || st.Appends != 4 {
			t.Fatalf("stats %+v, want 4 appends in 4 commits", st)
		}
		if db.Kind == configs.KindPostgres {
			// Guessed: the second append. The fourth's guess was wrong, and
			// the pause after it reads the head for the next second.
			if st.Guessed != 1 || st.WrongGuesses != 1 {
				t.Fatalf("stats %+v, want 1 commit on a guess and 1 wrong guess", st)
			}
		} else if st.Guessed != 0 || st.WrongGuesses != 0 {
			t.Fatalf("stats %+v: SQLite does not guess", st)
		}
		if got := logStreams(t, mine); strings.Join(got, " ") != "a@1 a@2 b@1 a@3 c@1" {
			t.Fatalf("log holds %v", got)
		}
	})
}

// With the head known, a stale expected version alone makes the guess
// wrong: the UNIQUE (stream_id, stream_version) refuses it and the group
// runs again; the fresh appends of the same group commit.
func TestGroupCommitStaleVersionInAGuessedGroup(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		for _, s := range []string{"x", "y"} {
			if _, err := store.Append(ctx, s, 0, events.Metadata{}, created(s)); err != nil {
				t.Fatal(err)
			}
		}
		outs := queueBehindGate(t, store, gate, []func() ([]events.Recorded, error){
			appendTo(ctx, store, "x", 1), appendTo(ctx, store, "y", 0) /* stale */, appendTo(ctx, store, "z", 0),
		})
		close(gate.release)
		got := make([]outcome, len(outs))
		for i, ch := range outs {
			got[i] = <-ch
		}
		if got[0].err != nil || got[1].err != nil || got[3].err != nil {
			t.Fatalf("fresh appends failed: %v, %v, %v", got[0].err, got[1].err, got[3].err)
		}
		if !errors.Is(got[2].err, events.ErrVersionConflict) {
			t.Fatalf("stale append: %v, want ErrVersionConflict", got[2].err)
		}
		if got[1].recs[0].Position != 4 || got[3].recs[0].Position != 5 || got[1].recs[0].StreamVersion != 2 {
			t.Fatalf("recorded %+v and %+v, want x@2 at 4 and z@1 at 5", got[1].recs[0], got[3].recs[0])
		}
		if st := store.AppendStats(); db.Kind == configs.KindPostgres && st.WrongGuesses != 1 {
			t.Fatalf("stats %+v, want the group's guess refused once", st)
		}
		if n, err := store.Count(ctx, nil, 0); err != nil || n != 5 {
			t.Fatalf("log holds %d events (%v), want 5", n, err)
		}
	})
}

// Concurrent appends share transactions: with the appender held, 15
// appends queue up and commit in one transaction, and the commit hooks
// still run once per append, in position order.
func TestGroupCommitSharesTransactions(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		var mu sync.Mutex
		var hooked []int64
		store.OnCommit(func(recs []events.Recorded) {
			mu.Lock()
			defer mu.Unlock()
			if len(recs) != 1 {
				t.Errorf("hook got %d events, want 1 per append", len(recs))
			}
			hooked = append(hooked, recs[0].Position)
		})
		var observed, observedOK int
		store.ObserveAppends(func(_ time.Duration, n int, err error) {
			mu.Lock()
			defer mu.Unlock()
			observed++
			if err == nil && n == 1 {
				observedOK++
			}
		})
		var appends []func() ([]events.Recorded, error)
		for i := range 15 {
			appends = append(appends, func() ([]events.Recorded, error) {
				return store.Append(ctx, fmt.Sprintf("s%d", i), 0, events.Metadata{}, created(fmt.Sprint(i)))
			})
		}
		outs := queueBehindGate(t, store, gate, appends)
		close(gate.release)
		for i, ch := range outs {
			if o := <-ch; o.err != nil {
				t.Fatalf("append %d: %v", i, o.err)
			}
		}
		if st := store.AppendStats(); st.Commits != 2 || st.Appends != 16 {
			t.Fatalf("stats %+v, want 16 appends in 2 commits", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(hooked) != 16 || observed != 16 || observedOK != 16 {
			t.Fatalf("hooks ran %d times, observers %d (%d ok); want 16 each", len(hooked), observed, observedOK)
		}
		for i, p := range hooked {
			if p != int64(i)+1 {
				t.Fatalf("hooks saw positions %v, want 1..16 in order", hooked)
			}
		}
	})
}

// A group of more streams than the SQLite appender keeps a versions query
// for (maxKeptHeads, 16) reads them as well: a stale append among 20 still
// fails alone.
func TestGroupCommitOfManyStreams(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		if _, err := store.Append(ctx, "s7", 0, events.Metadata{}, created("s7")); err != nil {
			t.Fatal(err)
		}
		var appends []func() ([]events.Recorded, error)
		for i := range 20 {
			appends = append(appends, func() ([]events.Recorded, error) {
				return store.Append(ctx, fmt.Sprintf("s%d", i), 0, events.Metadata{}, created(fmt.Sprint(i)))
			})
		}
		outs := queueBehindGate(t, store, gate, appends)
		close(gate.release)
		for i, ch := range outs {
			o := <-ch
			switch {
			case i == 8: // s7, created before
				if !errors.Is(o.err, events.ErrVersionConflict) {
					t.Fatalf("stale append to s7: %v, want ErrVersionConflict", o.err)
				}
			case o.err != nil:
				t.Fatalf("append %d: %v", i, o.err)
			}
		}
		if n, err := store.Count(ctx, nil, 0); err != nil || n != 21 {
			t.Fatalf("log holds %d events (%v), want 21", n, err)
		}
	})
}

// Unheld, 16 writers appending as fast as they can still share commits.
func TestGroupCommitUnderLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		store := sqlstore.NewStore(db, nil, nil)
		const writers, each = 16, 40
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					stream := fmt.Sprintf("w%d", w)
					if _, err := store.Append(context.Background(), stream, int64(i), events.Metadata{}, created(stream)); err != nil {
						t.Errorf("writer %d append %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		st := store.AppendStats()
		if st.Appends != writers*each || st.Commits >= st.Appends {
			t.Fatalf("stats %+v: want %d appends in fewer commits", st, writers*each)
		}
		t.Logf("%d appends in %d commits", st.Appends, st.Commits)
		n, err := store.Count(context.Background(), nil, 0)
		if err != nil || n != writers*each {
			t.Fatalf("log holds %d events (%v), want %d", n, err, writers*each)
		}
		if head, _ := store.Head(context.Background(), nil); head != writers*each {
			t.Fatalf("head %d, want %d: positions have gaps", head, writers*each)
		}
	})
}

// A caller that gives up while its append waits for a group withdraws it:
// nothing is written, and the group it would have joined commits anyway.
func TestGroupCommitWithdrawnAppend(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gate, nil)
		cctx, cancel := context.WithCancel(context.Background())
		outs := queueBehindGate(t, store, gate, []func() ([]events.Recorded, error){
			func() ([]events.Recorded, error) {
				return store.Append(cctx, "gone", 0, events.Metadata{}, created("gone"))
			},
			func() ([]events.Recorded, error) {
				return store.Append(context.Background(), "kept", 0, events.Metadata{}, created("kept"))
			},
		})
		cancel()
		if o := <-outs[1]; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("cancelled append: %v, want context.Canceled", o.err)
		}
		close(gate.release)
		if o := <-outs[0]; o.err != nil {
			t.Fatal(o.err)
		}
		if o := <-outs[2]; o.err != nil || o.recs[0].Position != 2 {
			t.Fatalf("kept append: %+v, %v; want position 2", o.recs, o.err)
		}
		if loaded, err := store.Load(context.Background(), "gone"); err != nil || len(loaded) != 0 {
			t.Fatalf("the withdrawn append left %d events (%v)", len(loaded), err)
		}
	})
}

// gatedLive holds its group behind gate, then applies the real projections.
type gatedLive struct {
	gate *gateApplier
	live *projections.LiveApplier
}

func (g gatedLive) Apply(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	if err := g.gate.Apply(ctx, tx, recs); err != nil {
		return err
	}
	return g.live.Apply(ctx, tx, recs)
}

// A command whose read-model insert fails part-way (its second key's hash
// is taken) fails alone: the others of its group commit, and none of its
// rows stay behind, neither those its own multi-row statements wrote
// before the failing row (SQLite writes them INSERT OR FAIL, without a
// statement journal to undo them) nor its events; alone in its group, it
// commits nothing either.
func TestGroupCommitProjectionFailureLeavesNoPartialRows(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		runner := projections.NewRunner(projections.All())
		gate := &gateApplier{release: make(chan struct{})}
		store := sqlstore.NewStore(db, gatedLive{gate, projections.NewLiveApplier(runner)}, nil)
		if err := runner.Setup(ctx, store); err != nil {
			t.Fatal(err)
		}
		key := func(id, hash string) events.Event {
			return events.KeyCreated{KeyID: id, WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: hash, Start: "s",
				Enabled: true, Remaining: new(int64(3)), PermissionIDs: []string{"perm_1"}}
		}
		appendKeys := func(stream string, evs ...events.Event) func() ([]events.Recorded, error) {
			return func() ([]events.Recorded, error) {
				return store.Append(ctx, stream, 0, events.Metadata{}, evs...)
			}
		}
		outs := queueBehindGate(t, store, gate, []func() ([]events.Recorded, error){
			appendKeys("key_a", key("key_a", "ha")),
			appendKeys("key_b", key("key_b", "hb"), key("key_c", "ha")), // key_c's hash is key_a's
			appendKeys("key_d", key("key_d", "hd")),
		})
		close(gate.release)
		got := make([]outcome, len(outs))
		for i, ch := range outs {
			got[i] = <-ch
		}
		for _, i := range []int{0, 1, 3} {
			if got[i].err != nil {
				t.Fatalf("append %d: %v", i, got[i].err)
			}
		}
		if got[2].err == nil || !strings.Contains(got[2].err.Error(), "inserting") {
			t.Fatalf("append of a taken hash: err = %v, want the keys projection's insert error", got[2].err)
		}
		// Alone in its group: one-command groups roll back whole.
		if _, err := appendKeys("key_e", key("key_e", "he"), key("key_f", "hd"))(); err == nil {
			t.Fatal("lone append of a taken hash committed")
		}
		rowsOf := func(table, column string) string {
			t.Helper()
			var ids []string
			if err := db.Primary.NewSelect().Table(table).Column(column).Order(column).Scan(ctx, &ids); err != nil {
				t.Fatal(err)
			}
			return strings.Join(ids, " ")
		}
		for _, c := range []struct{ table, column, want string }{
			{"events", "stream_id", "gate key_a key_d"},
			{"keys", "id", "key_a key_d"},
			{"key_permissions", "key_id", "key_a key_d"},
			{"key_credits", "key_id", "key_a key_d"},
		} {
			if got := rowsOf(c.table, c.column); got != c.want {
				t.Errorf("%s holds %s, want %s", c.table, got, c.want)
			}
		}
		if head, _ := store.Head(ctx, nil); head != 3 {
			t.Fatalf("head %d, want 3: positions have gaps", head)
		}
		// The read model goes on from there.
		if _, err := appendKeys("key_g", key("key_g", "hg"))(); err != nil {
			t.Fatal(err)
		}
		if got := rowsOf("keys", "id"); got != "key_a key_d key_g" {
			t.Fatalf("keys holds %s after the next append", got)
		}
		// Every projection's checkpoint is at the head.
		var at4, all int
		if err := db.Primary.QueryRowContext(ctx,
			"SELECT COUNT(CASE WHEN position = 4 THEN 1 END), COUNT(*) FROM projection_checkpoints").Scan(&at4, &all); err != nil {
			t.Fatal(err)
		}
		if all != len(projections.All()) || at4 != all {
			t.Fatalf("%d of %d checkpoints at the head 4, want all %d", at4, all, len(projections.All()))
		}
	})
}

// BenchmarkAppendParallel measures appends from 16 goroutines per core to
// a SQLite store (no projections): the log's own share of a write.
func BenchmarkAppendParallel(b *testing.B) {
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: "sqlite:" + filepath.Join(b.TempDir(), "k.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	store := sqlstore.NewStore(db, nil, nil)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("b%d", n.Add(1))
			if _, err := store.Append(context.Background(), id, 0, events.Metadata{}, created(id)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := store.AppendStats()
	b.ReportMetric(float64(st.Appends)/float64(st.Commits), "appends/commit")
}

// On SQLite the appender keeps one connection while appends come and hands
// it back to the pool once they stop: an idle store holds none.
func TestAppenderHandsItsConnectionBack(t *testing.T) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: "sqlite:" + filepath.Join(t.TempDir(), "k.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	store := sqlstore.NewStore(db, nil, nil)
	for i := range 20 {
		id := fmt.Sprintf("s%d", i)
		if _, err := store.Append(ctx, id, 0, events.Metadata{}, created(id)); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.Primary.DB.Stats().InUse; n != 1 {
		t.Fatalf("%d connections in use right after the appends, want the appender's 1", n)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		n := db.Primary.DB.Stats().InUse
		return n == 0, fmt.Sprintf("%d connections in use", n)
	})
	// And takes one again for the next append.
	if _, err := store.Append(ctx, "later", 0, events.Metadata{}, created("later")); err != nil {
		t.Fatal(err)
	}
}
