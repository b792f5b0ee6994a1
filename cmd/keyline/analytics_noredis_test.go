package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// countRow is one row of the per-outcome query below.
type countRow struct {
	Outcome string `json:"outcome"`
	N       int    `json:"n"`
}

// With clickhouse.url and no Redis (the seed's configuration), records go
// from the local store to ClickHouse: 500 verifications over HTTP are
// counted exactly 500 by analytics.getVerifications, on SQLite (one node)
// and on PostgreSQL with two `keyline run` processes sharing the database,
// of which one projects at a time.
func TestVerificationsWithoutRedisReachClickHouse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"sqlite", 1}, {"postgres two nodes", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
			if tc.nodes > 1 {
				db = testenv.FreshPostgresDatabase(t)
			}
			chURL := testenv.FreshClickHouseDatabase(t)
			root := "kl_root_test_" + handlers.NewID("k")
			nodes := make([]*testServer, tc.nodes)
			for i := range nodes {
				port := testenv.FreePort(t)
				config := writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": db},
					"clickhouse": map[string]any{"url": chURL},
					"analytics":  map[string]any{"flushIntervalMs": 50, "insertFlushIntervalMs": 100},
					"bootstrap":  map[string]any{"rootKey": root},
				})
				_, nodes[i] = startFromConfig(t, config, port)
				nodes[i].RootKey = root
			}
			api := nodes[0].createAPI(t, root, "no redis")
			_, valid := nodes[0].createKey(t, root, map[string]any{"apiId": api})
			_, disabled := nodes[0].createKey(t, root, map[string]any{"apiId": api, "enabled": false})
			bodies := [][]byte{}
			for _, k := range []string{valid, disabled} {
				b, _ := json.Marshal(map[string]string{"key": k})
				bodies = append(bodies, b)
			}
			c := fastClient()
			seen := map[string]int{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			var failed atomic.Int64
			for w := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						code, err := verifyCode(c, nodes[(w+i)%len(nodes)], bodies[i%2])
						if err != nil {
							failed.Add(1)
							continue
						}
						mu.Lock()
						seen[code]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if failed.Load() != 0 || seen["VALID"] != 250 || seen["DISABLED"] != 250 {
				t.Fatalf("clients saw %v, %d failed", seen, failed.Load())
			}
			const want = `[{"n":250,"outcome":"DISABLED"},{"n":250,"outcome":"VALID"}]`
			query := "SELECT outcome, count() AS n FROM key_verifications_v1 GROUP BY outcome ORDER BY outcome"
			var got string
			testenv.Eventually(t, 60*time.Second, func() (bool, string) {
				status, r := nodes[len(nodes)-1].call(t, root, "analytics.getVerifications", map[string]any{"query": query})
				if status != 200 {
					return false, fmt.Sprintf("status %d %+v", status, r.Error)
				}
				var rows []countRow
				if err := json.Unmarshal(r.Data, &rows); err != nil {
					t.Fatal(err)
				}
				for _, row := range rows {
					if row.N > 250 {
						t.Fatalf("%s counted %d times, clients saw 250", row.Outcome, row.N)
					}
				}
				got = string(r.Data)
				return got == want, fmt.Sprintf("analytics.getVerifications: %s, want %s", got, want)
			})
			// Exactly, in the raw table and the rollups alike: never more.
			ch := openClickHouse(t, chURL)
			testenv.Eventually(t, 20*time.Second, func() (bool, string) {
				n := total(countsIn(t, ch, perMonthQuery))
				if n > 500 {
					t.Fatalf("the monthly rollup counts %d verifications", n)
				}
				return n == 500, fmt.Sprintf("monthly rollup %d of 500", n)
			})
		})
	}
}

// The projector of the local store is killed (SIGKILL) while records
// arrive; after a restart every record is in ClickHouse exactly once, raw
// table and rollups alike, although some batch was inserted and its
// checkpoint not saved.
func TestLocalProjectorKillNineCountsOnce(t *testing.T) {
	t.Parallel()
	pg := testenv.FreshPostgresDatabase(t)
	chURL := testenv.FreshClickHouseDatabase(t)
	port := testenv.FreePort(t)
	config := writeConfig(t, map[string]any{
		"httpPort":   port,
		"database":   map[string]any{"primary": pg},
		"clickhouse": map[string]any{"url": chURL},
		// Small insert batches, so that the kill lands between inserts.
		"analytics": map[string]any{"insertBatchSize": 200, "insertFlushIntervalMs": 20},
		"bootstrap": map[string]any{"rootKey": "kl_root_test_kill_nine_local"},
	})
	p, _ := startFromConfig(t, config, port)

	// The test is the producer: a real sink writing to the shared store.
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: pg})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	store, err := analytics.NewLocalStore(context.Background(), db, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink, sinkDone := runSink(ctx, store)
	ch := openClickHouse(t, chURL)
	want, before := killMidStream(t, p, sink, ch)
	startFromConfig(t, config, port)
	expectCountedOnceAfterKill(t, ch, want, before, cancel, sinkDone, sink)
}
