package credits

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/servicetest"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/projections"
)

// fixture is a store with every projection, on one database of its own.
type fixture struct {
	db     *sqlstore.DB
	store  *sqlstore.Store
	runner *projections.Runner
	reader *projections.Reader
}

func onBothDatabases(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := servicetest.Open(t, kind)
			fn(t, &fixture{db: s.DB, store: s.Log, runner: s.Runner, reader: s.Reader})
		})
	}
}

func (f *fixture) createKey(t *testing.T, keyID string, credits int64) {
	t.Helper()
	if _, err := f.store.Append(context.Background(), events.KeyStreamID(keyID), 0, events.Metadata{},
		events.KeyCreated{KeyID: keyID, WorkspaceID: "ws_test", APIID: "api_test", KeySpaceID: "ks_test",
			Hash: "hash_" + keyID, Start: "kl_", Enabled: true, Remaining: &credits}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) spend(t *testing.T, keyID string, cost int64) {
	t.Helper()
	if _, ok, err := f.reader.SpendCredits(context.Background(), keyID, "ws_test", cost); err != nil || !ok {
		t.Fatalf("spending %d from %s: ok %v, %v", cost, keyID, ok, err)
	}
}

// logged sums the key.credits_spent events of the log per key.
func (f *fixture) logged(t *testing.T) map[string]int64 {
	t.Helper()
	recs, err := f.store.ReadAfter(context.Background(), nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := e.(events.KeyCreditsSpent); ok {
			out[s.KeyID] += s.Amount
		}
	}
	return out
}

func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	n, err := f.reader.PendingCreditSpends(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) row(t *testing.T, keyID string) projections.KeyCreditsRow {
	t.Helper()
	row, ok, err := f.reader.Credits(context.Background(), keyID)
	if err != nil || !ok || row.Remaining == nil || row.Logged == nil {
		t.Fatalf("credits of %s: %+v %v %v", keyID, row, ok, err)
	}
	return row
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Three folders that take over each other's claims on every round, while
// eight spenders spend: every spend reaches the log exactly once, and the
// live balances equal both the log and a rebuild from it.
func TestConcurrentFoldersCountEachSpendOnce(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const start = int64(1) << 40
		keys := []string{"key_a", "key_b", "key_c"}
		for _, k := range keys {
			f.createKey(t, k, start)
		}
		var spent [3]atomic.Int64
		var spenders, folders sync.WaitGroup
		done := make(chan struct{})
		for w := range 8 {
			spenders.Add(1)
			go func() {
				defer spenders.Done()
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for range 150 {
					i, cost := r.IntN(len(keys)), int64(r.IntN(3)+1)
					if _, ok, err := f.reader.SpendCredits(ctx, keys[i], "ws_test", cost); err != nil || !ok {
						t.Errorf("spend: ok %v, %v", ok, err)
						return
					}
					spent[i].Add(cost)
				}
			}()
		}
		var folds, superseded atomic.Int64
		for range 3 {
			folders.Add(1)
			go func() {
				defer folders.Done()
				folder := NewFolder(f.reader, f.store, quietLogger())
				for {
					select {
					case <-done:
						return
					default:
					}
					n, err := folder.FoldAll(ctx, TakeOverClaims)
					switch {
					case errors.Is(err, projections.ErrFoldSuperseded):
						superseded.Add(1)
					case err != nil:
						t.Errorf("fold: %v", err)
						return
					case n > 0:
						folds.Add(1)
					}
				}
			}()
		}
		spenders.Wait()
		close(done)
		folders.Wait()
		if t.Failed() {
			return
		}
		if _, err := NewFolder(f.reader, f.store, quietLogger()).FoldAll(ctx, TakeOverClaims); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d folds committed, %d superseded by a take-over", folds.Load(), superseded.Load())
		if n := f.pending(t); n != 0 {
			t.Fatalf("%d spends left in the journal", n)
		}
		logged := f.logged(t)
		for i, k := range keys {
			want := spent[i].Load()
			if logged[k] != want {
				t.Errorf("%s: the log holds %d spent credits, the spenders spent %d", k, logged[k], want)
			}
			row := f.row(t, k)
			if *row.Remaining != start-want || *row.Logged != start-want {
				t.Errorf("%s: remaining %d, logged %d, want both %d", k, *row.Remaining, *row.Logged, start-want)
			}
		}
		if _, err := f.runner.Rebuild(ctx, f.store, []string{"key_credits"}, nil); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			if row := f.row(t, k); *row.Remaining != start-spent[i].Load() || *row.Logged != *row.Remaining {
				t.Errorf("%s after a rebuild: remaining %d, logged %d, want both %d", k, *row.Remaining, *row.Logged, start-spent[i].Load())
			}
		}
	})
}

// A fold whose rows were taken over, wholly or in part, commits nothing;
// the taker's fold counts them.
func TestFoldOfTakenOverClaimCommitsNothing(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.createKey(t, "key_a", 100)
		for _, c := range []int64{1, 2, 3, 4} {
			f.spend(t, "key_a", c)
		}
		now := time.Now()
		mine, err := f.reader.ClaimCreditSpends(ctx, "stale", now, now.Add(-claimLease), 100)
		if err != nil || len(mine) != 4 {
			t.Fatalf("claimed %d rows, %v", len(mine), err)
		}
		// Another folder takes the two oldest rows over (1 and 2 credits).
		theirs, err := f.reader.ClaimCreditSpends(ctx, "taker", now, now.Add(time.Hour), 2)
		if err != nil || len(theirs) != 2 || theirs[0].Amount+theirs[1].Amount != 3 {
			t.Fatalf("took over %+v, %v", theirs, err)
		}
		_, err = f.store.Append(ctx, events.CreditFoldStreamID("stale"), 0, events.Metadata{}, sums(mine)...)
		if !errors.Is(err, projections.ErrFoldSuperseded) {
			t.Fatalf("appending the superseded fold: %v, want ErrFoldSuperseded", err)
		}
		if got := f.logged(t)["key_a"]; got != 0 {
			t.Fatalf("a superseded fold logged %d credits", got)
		}
		if _, err := f.store.Append(ctx, events.CreditFoldStreamID("taker"), 0, events.Metadata{}, sums(theirs)...); err != nil {
			t.Fatal(err)
		}
		// The rest, still claimed by the loser, waits for its lease unless
		// taken over.
		folder := NewFolder(f.reader, f.store, quietLogger())
		if n, err := folder.FoldAll(ctx, RespectClaims); err != nil || n != 0 {
			t.Fatalf("a fold respecting claims folded %d, %v; want 0", n, err)
		}
		if n, err := folder.FoldAll(ctx, TakeOverClaims); err != nil || n != 2 {
			t.Fatalf("the take-over folded %d, %v; want 2", n, err)
		}
		if got := f.logged(t)["key_a"]; got != 10 {
			t.Fatalf("the log holds %d spent credits, want 10", got)
		}
		if row := f.row(t, "key_a"); *row.Remaining != 90 || *row.Logged != 90 || f.pending(t) != 0 {
			t.Fatalf("remaining %d, logged %d, %d pending; want 90, 90, 0", *row.Remaining, *row.Logged, f.pending(t))
		}
		// A fold stream may hold nothing but spends.
		_, err = f.store.Append(ctx, events.CreditFoldStreamID("odd"), 0, events.Metadata{},
			events.KeyCreditsSet{KeyID: "key_a", WorkspaceID: "ws_test"})
		if err == nil {
			t.Fatal("a fold stream accepted a key.credits_set")
		}
	})
}

// failingLog refuses every append.
type failingLog struct{}

func (failingLog) Append(context.Context, string, int64, events.Metadata, ...events.Event) ([]events.Recorded, error) {
	return nil, errors.New("the primary is gone")
}

// A fold whose append fails releases its claim, so the next fold takes the
// rows at once instead of after the lease.
func TestFailedFoldReleasesItsClaim(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.createKey(t, "key_a", 100)
		f.spend(t, "key_a", 5)
		f.spend(t, "key_a", 0) // free: no journal row
		if n := f.pending(t); n != 1 {
			t.Fatalf("%d journal rows, want 1 (a zero-cost spend journals nothing)", n)
		}
		if _, err := NewFolder(f.reader, failingLog{}, quietLogger()).FoldAll(ctx, RespectClaims); err == nil {
			t.Fatal("a fold into a failing log succeeded")
		}
		n, err := NewFolder(f.reader, f.store, quietLogger()).FoldAll(ctx, RespectClaims)
		if err != nil || n != 1 {
			t.Fatalf("the next fold took %d rows, %v; want 1", n, err)
		}
		if got := f.logged(t)["key_a"]; got != 5 {
			t.Fatalf("the log holds %d spent credits, want 5", got)
		}
	})
}
