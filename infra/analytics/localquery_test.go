package analytics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

func openLocalDB(t *testing.T, primary string) *sqlstore.DB {
	t.Helper()
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: primary})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return db
}

func localRecords(n int, at time.Time) []events.AnalyticsEvent {
	out := make([]events.AnalyticsEvent, 0, n)
	for i := range n {
		var e events.AnalyticsEvent
		if i%4 == 3 {
			e = events.NewRatelimitDecided(at.UnixMilli()+int64(i%7), "req", "ws_1", "local",
				events.RatelimitDecided{NamespaceID: "ns_1", Identifier: "u", Passed: i%2 == 0, LatencyMs: 0.5})
		} else {
			e = events.NewKeyVerified(at.UnixMilli()+int64(i%7), "req", "ws_1", "local",
				events.KeyVerified{KeySpaceID: "ks_1", KeyID: fmt.Sprintf("key_%d", i%3), Outcome: "VALID", Tags: []string{"a"}, SpentCredits: 1})
		}
		e.ID = NewID()
		out = append(out, e)
	}
	return out
}

func localTotals(t *testing.T, db *sqlstore.DB) (ver, rl, rows int64) {
	t.Helper()
	ctx := context.Background()
	if err := db.Primary.QueryRowContext(ctx, `SELECT COALESCE(SUM(records), 0), COUNT(*) FROM `+localVerificationsTable).Scan(&ver, &rows); err != nil {
		t.Fatal(err)
	}
	if err := db.Primary.QueryRowContext(ctx, `SELECT COALESCE(SUM(records), 0) FROM `+localRatelimitsTable).Scan(&rl); err != nil {
		t.Fatal(err)
	}
	return ver, rl, rows
}

// stepAll steps every projector at once, each until done is closed and a
// step then finds nothing to read.
func stepAll(t *testing.T, projectors []*LocalQuery, done <-chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range projectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, err := p.Step(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					if k == 0 {
						return
					}
				default:
				}
			}
		}()
	}
	wg.Wait()
}

func closed() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Every record is counted once: records of one millisecond and key share a
// row, a repeated step adds nothing, and on PostgreSQL two projectors
// running at once (two nodes) split the work without counting twice.
func TestLocalQueryCountsEachRecordOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, primary string }{
		{"sqlite", "sqlite:" + filepath.Join(t.TempDir(), "k.db")},
		{"postgres", testenv.FreshPostgresDatabase(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openLocalDB(t, tc.primary)
			store, err := NewLocalStore(ctx, db, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			projectors := make([]*LocalQuery, 2)
			for i := range projectors {
				if projectors[i], err = NewLocalQuery(ctx, db, 1_000_000, logger); err != nil {
					t.Fatal(err)
				}
				projectors[i].batch = 300
			}
			const n = 4000
			recs := localRecords(n, time.Now())
			for i := 0; i < n; i += 500 {
				if err := store.Publish(ctx, recs[i:i+500], false); err != nil {
					t.Fatal(err)
				}
			}
			stepAll(t, projectors, closed())
			ver, rl, rows := localTotals(t, db)
			if ver != 3000 || rl != 1000 {
				t.Fatalf("counted %d verifications and %d decisions, want 3000 and 1000", ver, rl)
			}
			// 7 milliseconds × 3 keys (tags and credits equal): 21 rows for 3000 records.
			if rows != 21 {
				t.Fatalf("%d rows", rows)
			}
			if got := projectors[0].Projected() + projectors[1].Projected(); got < n {
				t.Fatalf("projected %d", got)
			}
			if k, err := projectors[0].Step(ctx); k != 0 || err != nil {
				t.Fatalf("a repeated step read %d (%v)", k, err)
			}
			if ver, rl, _ := localTotals(t, db); ver != 3000 || rl != 1000 {
				t.Fatalf("after a repeat: %d %d", ver, rl)
			}
		})
	}
}

// The store counts what it publishes in the same transaction once the
// checkpoint has caught up, and leaves to the projector what it could not
// count (records stored before, or while a step held the checkpoint): two
// stores (two nodes) publishing while two projectors step count every
// record once between them, and a batch published after the catch-up is
// counted by the publish alone.
func TestLocalStoreCountsWhatItPublishes(t *testing.T) {
	t.Parallel()
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db := openLocalDB(t, localURL(t, kind))
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			before, err := NewLocalStore(ctx, db, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			// Stored before anything counted them: the projectors' work.
			if err := before.Publish(ctx, localRecords(1000, time.Now()), false); err != nil {
				t.Fatal(err)
			}
			stores, projectors := make([]*LocalStore, 2), make([]*LocalQuery, 2)
			for i := range stores {
				if stores[i], err = NewLocalStore(ctx, db, 1_000_000); err != nil {
					t.Fatal(err)
				}
				if projectors[i], err = NewLocalQuery(ctx, db, 1_000_000, logger); err != nil {
					t.Fatal(err)
				}
				projectors[i].batch = 300
				stores[i].CountInto(projectors[i])
			}
			var published sync.WaitGroup
			for _, s := range stores {
				published.Add(1)
				go func() {
					defer published.Done()
					for range 10 {
						if err := s.Publish(ctx, localRecords(200, time.Now()), false); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { published.Wait(); close(done) }()
			stepAll(t, projectors, done)
			// 1000 + 4000 records, a quarter of them rate-limit decisions.
			if ver, rl, _ := localTotals(t, db); ver != 3750 || rl != 1250 {
				t.Fatalf("counted %d verifications and %d decisions, want 3750 and 1250", ver, rl)
			}
			folded := projectors[0].Projected() + projectors[1].Projected()
			if err := stores[0].Publish(ctx, localRecords(200, time.Now()), false); err != nil {
				t.Fatal(err)
			}
			if got := projectors[0].Projected() + projectors[1].Projected(); got != folded+200 {
				t.Fatalf("the publish after the catch-up counted %d records, want 200", got-folded)
			}
			for _, p := range projectors {
				if k, err := p.Step(ctx); k != 0 || err != nil {
					t.Fatalf("a step after a counted publish read %d (%v)", k, err)
				}
			}
			if ver, rl, _ := localTotals(t, db); ver != 3900 || rl != 1300 {
				t.Fatalf("counted %d verifications and %d decisions, want 3900 and 1300", ver, rl)
			}
		})
	}
}

// Past its bound the table drops its oldest rows and says from when it is
// complete; records the local store trimmed before the projector read them
// are counted as lost and move that instant too.
func TestLocalQueryBoundsAndLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openLocalDB(t, "sqlite:"+filepath.Join(t.TempDir(), "k.db"))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := NewLocalStore(ctx, db, 100)
	if err != nil {
		t.Fatal(err)
	}
	lq, err := NewLocalQuery(ctx, db, 5, logger)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []events.AnalyticsEvent
	for i := range 10 {
		recs = append(recs, localRecords(1, base.Add(time.Duration(i)*time.Second))...)
	}
	if err := store.Publish(ctx, recs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := lq.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if since, err := lq.CompleteSince(ctx); err != nil || !since.IsZero() {
		t.Fatalf("complete since %v (%v), want zero", since, err)
	}
	if err := lq.Trim(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, _, rows := localTotals(t, db)
	since, err := lq.CompleteSince(ctx)
	// Rows at seconds 0..9; the 6th newest is at second 4: seconds 0..4 go.
	if err != nil || rows != 5 || !since.Equal(base.Add(4*time.Second+time.Millisecond)) {
		t.Fatalf("%d rows, complete since %v (%v)", rows, since, err)
	}
	// 150 more records: the store keeps 100, so 50 go unread.
	later := localRecords(150, time.Now().Add(-time.Minute))
	for i := range later {
		later[i].Time += int64(i)
	}
	if err := store.Publish(ctx, later, false); err != nil {
		t.Fatal(err)
	}
	for {
		k, err := lq.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	if lq.Lost() != 50 {
		t.Fatalf("lost %d, want 50", lq.Lost())
	}
	if since, _ := lq.CompleteSince(ctx); since.UnixMilli() != later[50].Time {
		t.Fatalf("complete since %v, want the first record read after the loss (%v)", since, time.UnixMilli(later[50].Time))
	}
}
