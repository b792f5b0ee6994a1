package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// localDatabases are the two kinds of primary the local store runs on.
var localDatabases = []string{"sqlite", "postgres"}

func openLocal(t *testing.T, kind string, retention int64) *LocalStore {
	t.Helper()
	return openLocalAt(t, localURL(t, kind), retention)
}

// localURL is a fresh database of kind.
func localURL(t *testing.T, kind string) string {
	t.Helper()
	if kind == "postgres" {
		return testenv.FreshPostgresDatabase(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "local.db")
}

func openLocalAt(t *testing.T, url string, retention int64) *LocalStore {
	t.Helper()
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	store, err := NewLocalStore(context.Background(), db, retention)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// storeRecords publishes n verification records in batches of 100 and
// returns their IDs.
func storeRecords(t *testing.T, s *LocalStore, n int, retry bool) []string {
	t.Helper()
	ids := make([]string, 0, n)
	evs := make([]events.AnalyticsEvent, 0, 100)
	for i := range n {
		ev := events.NewKeyVerified(time.Now().UnixMilli(), "req_l", "ws_l", "local",
			events.KeyVerified{KeySpaceID: "ks", KeyID: fmt.Sprintf("key_%d", i%7), Outcome: "VALID"})
		ev.ID = NewID()
		ids = append(ids, ev.ID)
		evs = append(evs, ev)
		if len(evs) == cap(evs) || i == n-1 {
			if err := s.Publish(context.Background(), evs, retry); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	return ids
}

func localAnalytics(insertBatch int) configs.Analytics {
	return configs.Analytics{InsertBatchSize: insertBatch, InsertFlushIntervalMs: 20}
}

// expectStoredOnce waits until w holds every one of ids exactly once, and
// nothing else.
func expectStoredOnce(t *testing.T, w *fakeWriter, ids []string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		stored, _ := w.snapshot()
		for _, id := range ids {
			if stored[id] > 1 {
				t.Fatalf("record %s stored %d times", id, stored[id])
			}
		}
		missing := 0
		for _, id := range ids {
			if stored[id] == 0 {
				missing++
			}
		}
		return missing == 0 && len(stored) == len(ids), fmt.Sprintf("%d of %d records missing, %d stored", missing, len(ids), len(stored))
	})
}

// Dense positions: 1..n in commit order, the retry flag as published, and
// the oldest records trimmed at the retention.
func TestLocalStorePositionsAreDenseAndBounded(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			s := openLocal(t, kind, 250)
			ids := storeRecords(t, s, 300, false)
			retried := storeRecords(t, s, 10, true)
			first, last, err := s.Head(context.Background())
			if err != nil || first != 61 || last != 310 {
				t.Fatalf("head = %d..%d (%v), want 61..310", first, last, err)
			}
			recs, err := s.ReadAfter(context.Background(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 250 || Gap(0, recs) != 60 {
				t.Fatalf("read %d records with a gap of %d, want 250 and 60", len(recs), Gap(0, recs))
			}
			for i, r := range recs {
				ev, err := r.Event()
				if err != nil {
					t.Fatal(err)
				}
				want, retry := "", i >= 240
				if retry {
					want = retried[i-240]
				} else {
					want = ids[60+i]
				}
				if r.Position != int64(61+i) || ev.ID != want || r.Retry != retry {
					t.Fatalf("record %d: position %d id %s retry %v; want %d %s %v", i, r.Position, ev.ID, r.Retry, 61+i, want, retry)
				}
			}
			page, err := s.ReadAfter(context.Background(), 300, 5)
			if err != nil || len(page) != 5 || page[0].Position != 301 || Gap(300, page) != 0 {
				t.Fatalf("ReadAfter(300, 5) = %d records from %v (%v)", len(page), page, err)
			}
		})
	}
}

// execAll runs stmts on db's primary, in order.
func execAll(t *testing.T, db *sqlstore.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Primary.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// A store of the earlier layout (a unique id column) is rebuilt in the new
// one with its positions, so consumer offsets stay valid.
func TestLocalStoreUpgradesTheEarlierLayout(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			url := "sqlite:" + filepath.Join(t.TempDir(), "old.db")
			seq := "seq INTEGER PRIMARY KEY AUTOINCREMENT"
			if kind == "postgres" {
				url, seq = testenv.FreshPostgresDatabase(t), "seq BIGSERIAL PRIMARY KEY"
			}
			execAll(t, openLocalDB(t, url),
				`CREATE TABLE analytics_log (`+seq+`, id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)`,
				`INSERT INTO analytics_log (id, payload) VALUES ('aev_1', '{"id":"aev_1"}'), ('aev_2', '{"id":"aev_2"}')`)
			ctx := context.Background()
			s := openLocalAt(t, url, 100)
			storeRecords(t, s, 3, false)
			recs, err := s.ReadAfter(ctx, 0, 10)
			if err != nil || len(recs) != 5 || recs[0].Payload != `{"id":"aev_1"}` || recs[4].Position != 5 {
				t.Fatalf("after the upgrade: %+v (%v)", recs, err)
			}
		})
	}
}

// On SQLite a store of the BIGINT-keyed layout (a second B-tree beside the
// rowid) is rebuilt with the rowid as its key, keeping positions and retry
// flags.
func TestLocalStoreRekeysTheBigintLayoutOnSQLite(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "bigint.db")
	db := openLocalDB(t, url)
	execAll(t, db,
		`CREATE TABLE analytics_log (seq BIGINT PRIMARY KEY, retry SMALLINT NOT NULL DEFAULT 0, payload TEXT NOT NULL)`,
		`INSERT INTO analytics_log (seq, retry, payload) VALUES (7, 0, '{"id":"aev_7"}'), (8, 1, '{"id":"aev_8"}')`)
	ctx := context.Background()
	s := openLocalAt(t, url, 100)
	storeRecords(t, s, 2, false)
	recs, err := s.ReadAfter(ctx, 0, 10)
	if err != nil || len(recs) != 4 || recs[0].Position != 7 || recs[0].Retry || !recs[1].Retry || recs[1].Payload != `{"id":"aev_8"}` ||
		recs[3].Position != 10 {
		t.Fatalf("after the rebuild: %+v (%v)", recs, err)
	}
	var typed string
	if err := db.Primary.QueryRowContext(ctx, `SELECT type FROM pragma_table_info('analytics_log') WHERE name = 'seq'`).Scan(&typed); err != nil || typed != "INTEGER" {
		t.Fatalf("seq is %q (%v), want INTEGER", typed, err)
	}
}

// Every record reaches the writer exactly once in effect, through an
// insert whose answer was lost (stored, then failed), an insert that
// failed outright and a restart: whatever may have been written before is
// written as suspect; fresh batches are not.
func TestLocalProjectorExactlyOnceThroughFailures(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			s := openLocal(t, kind, 1_000_000)
			ids := storeRecords(t, s, 3000, false)
			w := newFakeWriter()
			w.hook = func(call int, _ []events.AnalyticsEvent) (error, bool) {
				switch call {
				case 1:
					return errors.New("answer lost"), true
				case 3:
					return errors.New("refused"), false
				}
				return nil, false
			}
			ctx, cancel := context.WithCancel(context.Background())
			p := NewLocalProjector(s, w, "node_a", localAnalytics(500), discard())
			done := supervise(ctx, p.Run)
			expectStoredOnce(t, w, ids)
			cancel()
			if errs := <-done; len(errs) != 2 {
				t.Fatalf("restarted after %d errors, want 2: %v", len(errs), errs)
			}
			_, calls := w.snapshot()
			if calls[0].suspect || !calls[2].suspect || calls[0].n != 500 {
				t.Fatalf("calls %+v: the first write fresh (500), the one after the lost answer suspect", calls)
			}

			// A new process of the same node resumes at the checkpoint:
			// only new records are written, fresh.
			w.mu.Lock()
			w.hook, w.calls = nil, nil
			w.mu.Unlock()
			more := storeRecords(t, s, 700, false)
			ctx, cancel = context.WithCancel(context.Background())
			done = supervise(ctx, NewLocalProjector(s, w, "node_a", localAnalytics(500), discard()).Run)
			expectStoredOnce(t, w, append(ids, more...))
			cancel()
			<-done
			_, calls = w.snapshot()
			n := 0
			for _, c := range calls {
				n += c.n
				if c.suspect {
					t.Fatalf("a restart after a clean stop wrote suspect: %+v", calls)
				}
			}
			if n != 700 {
				t.Fatalf("the restart wrote %d records, want the 700 new ones", n)
			}
			if p.Lost() != 0 {
				t.Fatalf("lost %d", p.Lost())
			}
		})
	}
}

// Records stored by a retried publish may be in the store twice: their
// batch is written as suspect, so each is stored once.
func TestLocalProjectorWritesRetriedRecordsAsSuspect(t *testing.T) {
	s := openLocal(t, "sqlite", 1_000_000)
	ids := storeRecords(t, s, 200, false)
	recs, err := s.ReadAfter(context.Background(), 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	again := make([]events.AnalyticsEvent, len(recs))
	for i, r := range recs {
		if again[i], err = r.Event(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Publish(context.Background(), again, true); err != nil {
		t.Fatal(err)
	}
	w := newFakeWriter()
	ctx, cancel := context.WithCancel(context.Background())
	done := supervise(ctx, NewLocalProjector(s, w, "node_a", localAnalytics(10_000), discard()).Run)
	expectStoredOnce(t, w, ids)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		_, calls := w.snapshot()
		n := 0
		for _, c := range calls {
			n += c.n
		}
		return n == 300, fmt.Sprintf("%d of 300 stored records written", n)
	})
	cancel()
	<-done
	_, calls := w.snapshot()
	if !calls[len(calls)-1].suspect {
		t.Fatalf("the batch holding retried records was written fresh: %+v", calls)
	}
}

// Records trimmed by retention before the projector read them are counted
// and logged at error level, once; the rest is projected.
func TestLocalProjectorCountsTrimmedRecords(t *testing.T) {
	for _, kind := range localDatabases {
		t.Run(kind, func(t *testing.T) {
			s := openLocal(t, kind, 100)
			first := storeRecords(t, s, 50, false)
			w := newFakeWriter()
			var log syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := supervise(ctx, NewLocalProjector(s, w, "node_a", localAnalytics(1000), discard()).Run)
			expectStoredOnce(t, w, first)
			cancel()
			<-done

			// 300 more while it is stopped: positions 51..350, of which
			// 251..350 are retained: 200 were never read.
			later := storeRecords(t, s, 300, false)
			p := NewLocalProjector(s, w, "node_a", localAnalytics(1000), slog.New(slog.NewTextHandler(&log, nil)))
			ctx, cancel = context.WithCancel(context.Background())
			done = supervise(ctx, p.Run)
			expectStoredOnce(t, w, append(first, later[200:]...))
			cancel()
			<-done
			if p.Lost() != 200 {
				t.Fatalf("lost %d, want 200", p.Lost())
			}
			lines := errorLines(log.String())
			if len(lines) != 1 || !strings.Contains(lines[0], "lost=200") || !strings.Contains(lines[0], "analytics.retention") {
				t.Fatalf("error log: %q", lines)
			}
		})
	}
}

// Two nodes on one PostgreSQL: one holds the lease and projects, the other
// waits; when the holder stops, the other takes over at the checkpoint.
// Every record is written once.
func TestLocalProjectorsOnOnePostgresProjectOnce(t *testing.T) {
	url := testenv.FreshPostgresDatabase(t)
	sa, sb := openLocalAt(t, url, 1_000_000), openLocalAt(t, url, 1_000_000)
	w := newFakeWriter()
	pa := NewLocalProjector(sa, w, "node_a", localAnalytics(300), discard())
	pb := NewLocalProjector(sb, w, "node_b", localAnalytics(300), discard())
	for _, p := range []*LocalProjector{pa, pb} {
		p.lease = time.Second
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA, doneB := supervise(ctxA, pa.Run), supervise(ctxB, pb.Run)

	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range []*LocalStore{sa, sb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := storeRecords(t, s, 2000, false)
			mu.Lock()
			ids = append(ids, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	expectStoredOnce(t, w, ids)
	_, before := w.snapshot()

	// Whoever holds the lease stops; the other takes over.
	owner := func() string {
		var o string
		if err := sa.db.Primary.QueryRowContext(context.Background(), `SELECT owner FROM analytics_projection`).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	first := owner()
	if first == "node_a" {
		cancelA()
		<-doneA
	} else {
		cancelB()
		<-doneB
	}
	more := storeRecords(t, sa, 1000, false)
	expectStoredOnce(t, w, append(ids, more...))
	if o := owner(); o == first {
		t.Fatalf("the lease stayed with %s after it stopped", o)
	}
	_, after := w.snapshot()
	n := 0
	for _, c := range after[len(before):] {
		n += c.n
	}
	if n != 1000 {
		t.Fatalf("the new owner wrote %d records, want the 1000 new ones", n)
	}
	cancelA()
	cancelB()
}

// A publish never needs a second connection while it holds SQLite's write
// lock. Here every other pooled connection waits for that lock and more
// writers queue for a connection (as verifiers spending credits do under
// load): the publish must commit at once, not after the busy timeout.
func TestLocalStorePublishesWhileThePoolWaitsForTheWriteLock(t *testing.T) {
	s := openLocal(t, "sqlite", 1_000_000)
	q, err := NewLocalQuery(context.Background(), s.db, 1_000_000, discard())
	if err != nil {
		t.Fatal(err)
	}
	s.CountInto(q)
	bg := context.Background()
	pool := s.db.Primary.DB
	if _, err := pool.ExecContext(bg, `CREATE TABLE contended (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	holder, err := pool.BeginTx(bg, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(bg, `INSERT INTO contended (n) VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	published := make(chan error, 1)
	go func() {
		evs := make([]events.AnalyticsEvent, 37) // chunks of 32, 2, 2 and 1
		for j := range evs {
			evs[j] = events.NewKeyVerified(time.Now().UnixMilli(), "req_c", "ws_c", "local",
				events.KeyVerified{KeySpaceID: "ks", KeyID: "key_c", Outcome: "VALID"})
			evs[j].ID = NewID()
		}
		published <- s.Publish(ctx, evs, false)
	}()
	// Writers that keep every connection busy until the publish is done:
	// a freed connection goes at once to a queued writer, which waits for
	// the write lock on it.
	const writers = 24
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var inserted atomic.Int64
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := pool.ExecContext(bg, `INSERT INTO contended (n) VALUES (?)`, i+1); err == nil {
					inserted.Add(1)
				}
			}
		}()
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		st := pool.Stats()
		return st.InUse == st.MaxOpenConnections && st.WaitCount >= int64(writers-st.MaxOpenConnections),
			fmt.Sprintf("pool: %d of %d in use, %d waits", st.InUse, st.MaxOpenConnections, st.WaitCount)
	})
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	err = <-published
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("publishing under contention: %v", err)
	}
	var n int64
	if err := pool.QueryRowContext(bg, `SELECT COUNT(*) FROM contended`).Scan(&n); err != nil || n != inserted.Load()+1 {
		t.Fatalf("contended rows = %d (%v), want %d", n, err, inserted.Load()+1)
	}
}
