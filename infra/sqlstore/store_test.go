package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// Each contract test runs on both stores, so SQLite (the embedded default)
// and PostgreSQL (clusters) keep the same semantics.
func forEachStore(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for name, primary := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "k.db") },
		"postgres": func(t *testing.T) string { return testenv.FreshPostgresDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: primary(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cleanup)
			fn(t, db)
		})
	}
}

func created(id string) events.Event {
	return events.APICreated{APIID: id, KeySpaceID: "ks_" + id, WorkspaceID: "ws_1", Name: "n " + id}
}

func TestAppendAndLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := sqlstore.NewStore(db, nil, nil)
		recs, err := store.Append(ctx, "api-a", 0, events.Metadata{RequestID: "req_1"}, created("a"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].StreamVersion != 1 || recs[0].Position < 1 || recs[0].Name != "api.created" {
			t.Fatalf("recorded %+v", recs)
		}
		if _, err := store.Append(ctx, "api-a", 0, events.Metadata{}, created("a")); !errors.Is(err, events.ErrVersionConflict) {
			t.Fatalf("stale expected version: err = %v, want ErrVersionConflict", err)
		}
		if _, err := store.Append(ctx, "api-a", 1, events.Metadata{}, events.APIDeleted{APIID: "a", WorkspaceID: "ws_1"}); err != nil {
			t.Fatal(err)
		}
		loaded, err := store.Load(ctx, "api-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(loaded) != 2 || loaded[0].StreamVersion != 1 || loaded[1].StreamVersion != 2 ||
			loaded[0].Meta.RequestID != "req_1" || loaded[1].Name != "api.deleted" {
			t.Fatalf("loaded %+v", loaded)
		}
		e, err := loaded[0].Decode()
		if err != nil || e != created("a") {
			t.Fatalf("decoded %#v, %v", e, err)
		}
		if head, _ := store.Head(ctx, nil); head != loaded[1].Position {
			t.Fatalf("head = %d, want %d", head, loaded[1].Position)
		}
	})
}

// Concurrent appends to one stream: exactly one wins each version.
func TestConcurrentAppendsToOneStream(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		store := sqlstore.NewStore(db, nil, nil)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := store.Append(context.Background(), "api-race", 0, events.Metadata{}, created("race"))
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, events.ErrVersionConflict) {
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d appends won version 1, want exactly 1", wins)
		}
	})
}

type failingApplier struct{}

func (failingApplier) Apply(context.Context, bun.Tx, []events.Recorded) error {
	return errors.New("projection refused")
}

// A failed projection rolls the whole append back: no event, no outbox row.
func TestFailedAppendLeavesNothingBehind(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		cfg := &configs.Config{}
		ob, err := outbox.ForKind(ctx, db, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		store := sqlstore.NewStore(db, failingApplier{}, ob)
		if _, err := store.Append(ctx, "api-x", 0, events.Metadata{}, created("x")); err == nil {
			t.Fatal("append with a failing projection succeeded")
		}
		if n, _ := store.Count(ctx, nil, 0); n != 0 {
			t.Fatalf("%d events left behind", n)
		}
		if db.Kind == configs.KindPostgres {
			var rows int
			if err := db.Primary.QueryRowContext(ctx, `SELECT COUNT(*) FROM "watermill_`+outbox.EventsTopic+`"`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != 0 {
				t.Fatalf("%d outbox rows left behind", rows)
			}
			// And a successful append leaves exactly one outbox row.
			if _, err := sqlstore.NewStore(db, nil, ob).Append(ctx, "api-x", 0, events.Metadata{}, created("x")); err != nil {
				t.Fatal(err)
			}
			if err := db.Primary.QueryRowContext(ctx, `SELECT COUNT(*) FROM "watermill_`+outbox.EventsTopic+`"`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != 1 {
				t.Fatalf("%d outbox rows after one append, want 1", rows)
			}
		}
	})
}

// recorder is a Follower that remembers what it saw.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *recorder) Observe(rec events.Recorded) {
	r.mu.Lock()
	r.seen[rec.StreamID]++
	r.mu.Unlock()
}

func (r *recorder) count(stream string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[stream]
}

// A follower hears of a local append before Append returns (the commit
// path, tailer not running) and of another process's append through the
// tailer (a second Store on the same database stands for that process).
func TestFollowersSeeLocalCommitsAndOtherProcesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		local := sqlstore.NewStore(db, nil, nil)
		other := sqlstore.NewStore(db, nil, nil)
		tailer := sqlstore.NewTailer(local, configs.Projections{PollIntervalMs: 10}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := tailer.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a, b := &recorder{seen: map[string]int{}}, &recorder{seen: map[string]int{}}
		tailer.Follow(a, b)

		if _, err := local.Append(ctx, "api-local", 0, events.Metadata{}, created("local")); err != nil {
			t.Fatal(err)
		}
		// The tailer is not running yet: only the commit path can have
		// delivered this, and it must have done so synchronously.
		if a.count("api-local") != 1 || b.count("api-local") != 1 {
			t.Fatalf("after a local append: followers saw %d and %d events, want 1 each", a.count("api-local"), b.count("api-local"))
		}

		if _, err := other.Append(ctx, "api-other", 0, events.Metadata{}, created("other")); err != nil {
			t.Fatal(err)
		}
		if a.count("api-other") != 0 {
			t.Fatal("another process's append reached a follower without the tailer")
		}
		done := make(chan error, 1)
		run := func() (stop func()) {
			runCtx, cancel := context.WithCancel(ctx)
			go func() { done <- tailer.Run(runCtx) }()
			return func() { cancel(); <-done }
		}
		stop := run()
		defer func() { stop() }()
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			return a.count("api-other") == 1 && b.count("api-other") == 1,
				fmt.Sprintf("followers saw the other process's append %d and %d times, want 1 each", a.count("api-other"), b.count("api-other"))
		})
		// The local append directly followed what the tailer had seen, so
		// the tailer moved past it without reading it back.
		if a.count("api-local") != 1 || b.count("api-local") != 1 {
			t.Fatalf("followers saw the local append %d and %d times, want 1 each", a.count("api-local"), b.count("api-local"))
		}
		// A local append after another process's that the tailer has not
		// read yet is read back, in order, after the other one.
		var mu sync.Mutex
		var seen []string
		tailer.Subscribe(func(r events.Recorded) {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%d:%s", r.Position, r.StreamID))
			mu.Unlock()
		})
		stop()
		stop = func() {}
		if _, err := other.Append(ctx, "api-other2", 0, events.Metadata{}, created("other2")); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Append(ctx, "api-local2", 0, events.Metadata{}, created("local2")); err != nil {
			t.Fatal(err)
		}
		if a.count("api-local2") != 1 {
			t.Fatal("a local append did not reach the follower at commit")
		}
		stop = run()
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == 2 && a.count("api-other2") == 1 && a.count("api-local2") == 2,
				fmt.Sprintf("subscriber saw %v, follower saw other2 %d and local2 %d times", seen, a.count("api-other2"), a.count("api-local2"))
		})
		mu.Lock()
		defer mu.Unlock()
		if got := strings.Join(seen, " "); got != "3:api-other2 4:api-local2" {
			t.Fatalf("subscriber saw %s, want 3:api-other2 4:api-local2", got)
		}
	})
}

// Under a write load from this process alone, the tailer follows the log
// without reading it back: every append moves its position at commit, and
// a subscriber sees each event once, in order.
func TestTailerFollowsLocalCommitsWithoutReading(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		store := sqlstore.NewStore(db, nil, nil)
		tailer := sqlstore.NewTailer(store, configs.Projections{PollIntervalMs: 60_000}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		var mu sync.Mutex
		var positions []int64
		tailer.Subscribe(func(r events.Recorded) {
			mu.Lock()
			positions = append(positions, r.Position)
			mu.Unlock()
		})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- tailer.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			return sqlstore.TailerReads(tailer) == 1, "the first read has not happened"
		})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					if _, err := store.Append(ctx, fmt.Sprintf("s%d-%d", w, i), 0, events.Metadata{}, created("x")); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if got := tailer.Position(); got != 200 {
			t.Fatalf("tailer at %d after 200 local appends, want 200", got)
		}
		if n := sqlstore.TailerReads(tailer); n != 1 {
			t.Fatalf("the tailer read the log %d times, want only its first read", n)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, p := range positions {
			if p != int64(i)+1 {
				t.Fatalf("subscriber saw positions %v, want 1..200 once each in order", positions)
			}
		}
		if len(positions) != 200 {
			t.Fatalf("subscriber saw %d events, want 200", len(positions))
		}
	})
}
