package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/services/reporting"
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/testenv"
)

// analyticsConfig is a cluster setup of its own: a fresh PostgreSQL
// database, Redis streams under a fresh prefix and, with withClickHouse, a
// fresh ClickHouse database.
func analyticsConfig(t *testing.T, withClickHouse bool) *configs.Config {
	t.Helper()
	cfg := postgresConfig(t)
	prefix := testenv.RedisPrefix(t)
	cfg.Redis = &configs.Redis{URL: testenv.RedisURL(t), StreamPrefix: prefix, KeyPrefix: prefix + "rl:"}
	if withClickHouse {
		cfg.ClickHouse = &configs.ClickHouse{URL: testenv.FreshClickHouseDatabase(t)}
	}
	cfg.Analytics.BatchSize = 500
	cfg.Analytics.FlushIntervalMs = 50
	// One root key for every node withNode makes of cfg: a node configured
	// with another key would revoke this one as replaced.
	cfg.Bootstrap = &configs.Bootstrap{RootKey: "kl_root_test_" + handlers.NewID("k")}
	return cfg
}

// withNode gives a server its own node ID (which names its analytics
// consumer) as a member of a cluster of its own.
func withNode(t *testing.T, cfg *configs.Config, id string) *configs.Config {
	c := *cfg
	c.Cluster = &configs.Cluster{NodeID: id, AdvertiseAddr: "127.0.0.1", Secret: "analytics-test-secret",
		RPCPort: strconv.Itoa(testenv.FreePort(t)), GossipPort: strconv.Itoa(testenv.FreePort(t)),
		FailureTimeoutMs: configs.DefaultFailureTimeoutMs,
		Discovery:        configs.Discovery{Static: &configs.StaticDiscovery{Addrs: []string{"127.0.0.1:1"}}}}
	return &c
}

func openClickHouse(t *testing.T, url string) *clickhouse.DB {
	t.Helper()
	db, err := clickhouse.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

type keyOutcome struct{ key, outcome string }

var outcomes = []string{"VALID", "RATE_LIMITED", "USAGE_EXCEEDED", "NOT_FOUND"}

// emitVerifications sends n records through sink, spread over 7 keys and 4
// outcomes, and adds what it sent to want.
func emitVerifications(sink reporting.Sink, n int, tag string, mu *sync.Mutex, want map[keyOutcome]int) {
	now := time.Now().UnixMilli()
	local := map[keyOutcome]int{}
	for i := range n {
		ko := keyOutcome{fmt.Sprintf("key_%d", i%7), outcomes[i%len(outcomes)]}
		local[ko]++
		sink.Emit(events.NewKeyVerified(now+int64(i%1000), "req_"+tag, "ws_test", "local", events.KeyVerified{
			KeySpaceID: "ks_test", KeyID: ko.key, Outcome: ko.outcome, Tags: []string{tag}, SpentCredits: 1, LatencyMs: 0.1}))
	}
	mu.Lock()
	for k, v := range local {
		want[k] += v
	}
	mu.Unlock()
}

// countsIn reads per (key, outcome) counts from ClickHouse: distinct event
// IDs in the raw table, and the sum of the per-minute and per-month rollups.
func countsIn(t *testing.T, db *clickhouse.DB, query string) map[keyOutcome]int {
	t.Helper()
	rows, err := db.Conn.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[keyOutcome]int{}
	for rows.Next() {
		var k, o string
		var n uint64
		if err := rows.Scan(&k, &o, &n); err != nil {
			t.Fatal(err)
		}
		out[keyOutcome{k, o}] = int(n)
	}
	return out
}

const (
	uniqueQuery   = "SELECT key_id, outcome, uniqExact(event_id) FROM key_verifications_raw_v1 GROUP BY key_id, outcome"
	rawRowsQuery  = "SELECT key_id, outcome, count() FROM key_verifications_raw_v1 FINAL GROUP BY key_id, outcome"
	perMinQuery   = "SELECT key_id, outcome, sum(count) FROM key_verifications_per_minute_v1 WHERE batch_marker = '' GROUP BY key_id, outcome"
	perMonthQuery = "SELECT key_id, outcome, sum(count) FROM key_verifications_per_month_v1 WHERE batch_marker = '' GROUP BY key_id, outcome"
)

// expectAllCounts waits until the raw table (FINAL) and the rollups hold
// exactly want: neither fewer nor more.
func expectAllCounts(t *testing.T, db *clickhouse.DB, want map[keyOutcome]int) {
	t.Helper()
	for _, q := range []string{rawRowsQuery, perMinQuery, perMonthQuery} {
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			got := countsIn(t, db, q)
			for k, v := range got {
				if v > want[k] {
					t.Fatalf("%s: %v counted %d times, emitted %d", q, k, v, want[k])
				}
			}
			return sameCounts(got, want), fmt.Sprintf("%s: %d of %d", q, total(got), total(want))
		})
	}
}

func sameCounts(a, b map[keyOutcome]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func total(m map[keyOutcome]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Two servers on one cluster (PostgreSQL, Redis, ClickHouse) each take
// verification records through their reporting.Sink: ClickHouse
// ends up with exactly what was emitted, per key and outcome, in the raw
// table and in the rollups. Their audit projectors together write every
// management event once, and `replay --projection audit` rebuilds it.
func TestAnalyticsTwoServersCountExactly(t *testing.T) {
	cfg := analyticsConfig(t, true)
	a := startServer(t, withNode(t, cfg, "node_a"))
	b := startServer(t, withNode(t, cfg, "node_b"))

	want := map[keyOutcome]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, srv := range []*testServer{a, b} {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				emitVerifications(srv.Server.Analytics.Sink, 5000, fmt.Sprintf("s%d_g%d", i, g), &mu, want)
			}()
		}
	}
	a.createAPI(t, a.RootKey, "audit-one")
	b.createAPI(t, b.RootKey, "audit-two")
	wg.Wait()
	if total(want) != 20000 {
		t.Fatalf("emitted %d", total(want))
	}

	db := openClickHouse(t, cfg.ClickHouse.URL)
	testenv.Eventually(t, 90*time.Second, func() (bool, string) {
		got := countsIn(t, db, uniqueQuery)
		return sameCounts(got, want), fmt.Sprintf("clickhouse has %d of %d records", total(got), total(want))
	})
	// A view's part may become visible a moment after the raw table's.
	expectAllCounts(t, db, want)
	for _, srv := range []*testServer{a, b} {
		if d := srv.Server.Analytics.Sink.Dropped(); d != 0 {
			t.Errorf("sink dropped %d records", d)
		}
	}

	// The audit log: every management event of the log, once.
	head, err := a.Server.Store.Head(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	auditCount := func() (uint64, uint64) {
		var n, maxPos uint64
		if err := db.Conn.QueryRow(context.Background(),
			"SELECT count(), toUInt64(max(position)) FROM audit_log_v1 FINAL").Scan(&n, &maxPos); err != nil {
			t.Fatal(err)
		}
		return n, maxPos
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		n, maxPos := auditCount()
		return n == uint64(head) && maxPos == uint64(head), fmt.Sprintf("audit rows %d up to %d, log head %d", n, maxPos, head)
	})
	var name, payload, eventID string
	if err := db.Conn.QueryRow(context.Background(),
		"SELECT name, payload, event_id FROM audit_log_v1 FINAL WHERE position = ?", head).Scan(&name, &payload, &eventID); err != nil {
		t.Fatal(err)
	}
	if name != "api.created" || !strings.Contains(payload, "audit-") || eventID != fmt.Sprintf("evt_%d", head) {
		t.Errorf("last audit row: %s %s %s", name, eventID, payload)
	}

	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	n, err := admin.Replay(context.Background(), []string{analytics.AuditProjection}, nil)
	if err != nil || n != head {
		t.Fatalf("replay audit: %d events, %v (head %d)", n, err, head)
	}
	if got, _ := auditCount(); got != uint64(head) {
		t.Fatalf("audit rows after replay %d, want %d", got, head)
	}
}

// The projector is killed (SIGKILL) while records stream in; after a
// restart every record is in ClickHouse exactly once: raw table and rollups
// alike, although some batch was inserted and not yet acknowledged.
func TestAnalyticsProjectorKillNineCountsOnce(t *testing.T) {
	cfg := analyticsConfig(t, true)
	port := testenv.FreePort(t)
	fileCfg := map[string]any{
		"httpPort":   port,
		"database":   map[string]any{"primary": cfg.Database.Primary},
		"redis":      map[string]any{"url": cfg.Redis.URL, "streamPrefix": cfg.Redis.StreamPrefix},
		"clickhouse": map[string]any{"url": cfg.ClickHouse.URL},
		"analytics": map[string]any{"batchSize": 200, "flushIntervalMs": 20,
			// Small insert batches, so that the kill lands between inserts.
			"insertBatchSize": 200, "insertFlushIntervalMs": 20},
		"bootstrap": map[string]any{"rootKey": "kl_root_test_kill_nine_analytics"},
	}
	config := writeConfig(t, fileCfg)
	p, _ := startFromConfig(t, config, port)

	// The test is the producer: a real sink publishing to the real stream.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := analytics.NewRedisPublisher(ctx, cfg.Redis.URL, cfg.Redis.Stream(redisstream.AnalyticsTopic), 1_000_000, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sink, sinkDone := runSink(ctx, pub)
	db := openClickHouse(t, cfg.ClickHouse.URL)
	want, before := killMidStream(t, p, sink, db)
	startFromConfig(t, config, port)
	if out, errs, code := runProc(t, "migrate", "--config", config); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("clickhouse schema version %d (0 steps applied now", clickhouse.LatestVersion())) {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errs)
	}

	expectCountedOnceAfterKill(t, db, want, before, cancel, sinkDone, sink)
}

// runSink runs a real sink on pub, the producer of the kill -9 tests, until
// ctx ends; its Run's result arrives on the channel.
func runSink(ctx context.Context, pub analytics.Publisher) (*analytics.Sink, <-chan error) {
	sink := analytics.NewSink(configs.Analytics{BufferSize: 100_000, BatchSize: 500, FlushIntervalMs: 20}, pub, discardLogger())
	done := make(chan error, 1)
	go func() { done <- sink.Run(ctx) }()
	return sink, done
}

// killMidStream emits 20 000 verification records into sink in a steady
// stream and kills the projector p (SIGKILL) once ClickHouse holds some of
// them. It returns, once all are emitted, what was emitted and how many
// records ClickHouse held at the kill.
func killMidStream(t *testing.T, p *proc, sink *analytics.Sink, ch *clickhouse.DB) (map[keyOutcome]int, int) {
	t.Helper()
	want := map[keyOutcome]int{}
	var mu sync.Mutex
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for i := range 20 {
			emitVerifications(sink, 1000, fmt.Sprintf("b%d", i), &mu, want)
			time.Sleep(20 * time.Millisecond) // a steady stream, so the kill lands mid-way
		}
	}()
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		n := total(countsIn(t, ch, uniqueQuery))
		return n > 0, fmt.Sprintf("%d records in clickhouse", n)
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	before := total(countsIn(t, ch, uniqueQuery))
	t.Logf("killed the projector with %d of 20000 records in ClickHouse", before)
	<-emitted
	if before >= 20000 {
		t.Fatalf("the projector had finished before the kill (%d records); nothing was tested", before)
	}
	return want, before
}

// expectCountedOnceAfterKill waits, after killMidStream and a restart,
// until ClickHouse holds exactly want in the raw table and the rollups;
// then it stops the sink and checks that it dropped nothing.
func expectCountedOnceAfterKill(t *testing.T, ch *clickhouse.DB, want map[keyOutcome]int, before int, stop func(), done <-chan error, sink *analytics.Sink) {
	t.Helper()
	testenv.Eventually(t, 90*time.Second, func() (bool, string) {
		got := countsIn(t, ch, uniqueQuery)
		return sameCounts(got, want), fmt.Sprintf("clickhouse has %d of %d records (%d before the kill)", total(got), total(want), before)
	})
	expectAllCounts(t, ch, want)
	stop()
	<-done
	if sink.Dropped() != 0 || sink.Published() != 20000 {
		t.Fatalf("sink dropped %d, published %d", sink.Dropped(), sink.Published())
	}
}

// `keyline consume` prints management events and analytics records; killed
// and restarted in the same group it resumes: the union of what both runs
// printed has every event, in stream order per stream. Runs without
// ClickHouse: the stream does not depend on it.
func TestConsumeResumesWithoutGaps(t *testing.T) {
	cfg := analyticsConfig(t, false)
	srv := startServer(t, cfg)
	config := writeConfig(t, map[string]any{
		"database": map[string]any{"primary": cfg.Database.Primary},
		"redis":    map[string]any{"url": cfg.Redis.URL, "streamPrefix": cfg.Redis.StreamPrefix},
	})
	if srv.Server.Analytics.Projector != nil || srv.Server.Analytics.Audit != nil {
		t.Fatal("ClickHouse components running without clickhouse.url")
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	// What the group was delivered and has not acknowledged, on both streams.
	unacked := func() (int64, error) {
		var n int64
		for _, topic := range []string{redisstream.EventsTopic, redisstream.AnalyticsTopic} {
			p, err := rdb.XPending(context.Background(), cfg.Redis.Stream(topic), "g1").Result()
			if err != nil {
				return 0, err
			}
			n += p.Count
		}
		return n, nil
	}
	consumeResumes(t, srv, config, unacked)
}

// The embedded default (SQLite, no Redis) keeps analytics records in the
// local store, bounded by analytics.retention, and `keyline consume` reads
// it and the event log with the same resume guarantee.
func TestConsumeResumesWithoutGapsEmbedded(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Analytics.FlushIntervalMs = 20
	srv := startServer(t, cfg)
	config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
	// The group's offsets trail the newest event and record by what it
	// printed and has not yet acknowledged.
	unacked := func() (int64, error) {
		var n int64
		err := srv.Server.Store.DB().Primary.QueryRowContext(context.Background(), `SELECT
			(SELECT COALESCE(MAX(position), 0) FROM events) + (SELECT COALESCE(MAX(seq), 0) FROM analytics_log)
			- (SELECT COALESCE(SUM(position), 0) FROM consumer_offsets WHERE group_name = 'g1')`).Scan(&n)
		return n, err
	}
	consumeResumes(t, srv, config, unacked)
}

// consumeResumes runs `keyline consume`, kills it, produces more and runs it
// again: together the two runs print every management event and analytics
// record, and the second resumes instead of starting over. unacked tells
// how much of what group g1 was given it has not acknowledged: the kill
// waits for it to reach zero, or the first run's only batch is legitimately
// printed again (delivery is at-least-once).
func consumeResumes(t *testing.T, srv *testServer, config string, unacked func() (int64, error)) {

	produce := func(round int) []string {
		var ids []string
		for i := range 5 {
			srv.createAPI(t, srv.RootKey, fmt.Sprintf("consume-%d-%d", round, i))
		}
		for i := range 50 {
			ev := events.NewKeyVerified(time.Now().UnixMilli(), "req_x", "ws_test", "local",
				events.KeyVerified{KeySpaceID: "ks", KeyID: fmt.Sprintf("key_%d", i), Outcome: "VALID"})
			ev.ID = analytics.NewID()
			ids = append(ids, ev.ID)
			srv.Server.Analytics.Sink.Emit(ev)
		}
		return ids
	}
	parse := func(out string) (map[string]bool, []int64) {
		seen := map[string]bool{}
		var positions []int64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var rec struct {
				ID       string `json:"id"`
				Position int64  `json:"position"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.ID == "" {
				t.Fatalf("not a JSON event line: %q (%v)", line, err)
			}
			seen[rec.ID] = true
			if rec.Position > 0 {
				positions = append(positions, rec.Position)
			}
		}
		return seen, positions
	}

	wantAnalytics := produce(1)
	c1 := startProc(t, "consume", "--config", config, "--group", "g1")
	var first map[string]bool
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		out, _ := c1.output()
		first, _ = parse(out)
		return len(first) >= 50, fmt.Sprintf("%d lines", len(first))
	})
	// Lines read before the group showed nothing unacknowledged were all
	// acknowledged: those are what the restart must not print again.
	var acked map[string]bool
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		out, _ := c1.output()
		n, err := unacked()
		if err != nil {
			t.Fatal(err)
		}
		acked, _ = parse(out)
		return n == 0, fmt.Sprintf("%d entries printed and not acknowledged", n)
	})
	if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c1.done
	out1, _ := c1.output()
	first, _ = parse(out1)

	wantAnalytics = append(wantAnalytics, produce(2)...)
	head, err := srv.Server.Store.Head(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := startProc(t, "consume", "--config", config, "--group", "g1")
	var second map[string]bool
	var positions []int64
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		out, _ := c2.output()
		second, positions = parse(out)
		missing := 0
		for pos := int64(1); pos <= head; pos++ {
			id := fmt.Sprintf("evt_%d", pos)
			if !first[id] && !second[id] {
				missing++
			}
		}
		for _, id := range wantAnalytics {
			if !first[id] && !second[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d events missing (first run %d lines, second %d)", missing, len(first), len(second))
	})
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Fatalf("management events out of order: %v", positions)
		}
	}
	// The restart resumed instead of starting over: everything the first
	// run acknowledged before the kill is not printed again.
	again := 0
	for id := range acked {
		if second[id] {
			again++
		}
	}
	if again != 0 || len(acked) < 50 {
		t.Fatalf("the second run re-printed %d of the %d entries the first run acknowledged: it did not resume", again, len(acked))
	}
}

// Verifications and rate-limit decisions made over HTTP on two nodes reach
// ClickHouse exactly: per key and outcome, the counts equal what the clients
// saw.
func TestVerificationsOverHTTPReachClickHouseExactly(t *testing.T) {
	cfg := analyticsConfig(t, true)
	a := startServer(t, withNode(t, cfg, "node_a"))
	b := startServer(t, withNode(t, cfg, "node_b"))
	api := a.createAPI(t, a.RootKey, "analytics e2e")
	var keys []string
	for i := range 4 {
		body := map[string]any{"apiId": api}
		if i == 1 {
			body["credits"] = map[string]any{"remaining": 50}
		}
		if i == 2 {
			body["enabled"] = false
		}
		if i == 3 {
			body["ratelimits"] = []map[string]any{{"name": "requests", "limit": 30, "duration": 600000, "autoApply": true}}
		}
		_, key := a.createKey(t, a.RootKey, body)
		keys = append(keys, key)
	}
	keyIDs := map[string]string{}
	seen := map[keyOutcome]int{}
	for _, k := range keys {
		v := a.verify(t, a.RootKey, map[string]any{"key": k})
		keyIDs[k] = v.KeyID
		seen[keyOutcome{keyIDs[k], v.Code}]++
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := []*testServer{a, b}[w%2]
			local := map[keyOutcome]int{}
			for i := range 100 {
				k := keys[(i+w)%len(keys)]
				v := srv.verify(t, srv.RootKey, map[string]any{"key": k})
				local[keyOutcome{keyIDs[k], v.Code}]++
			}
			mu.Lock()
			for ko, n := range local {
				seen[ko] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, want := range []keyOutcome{{keyIDs[keys[0]], "VALID"}, {keyIDs[keys[1]], "USAGE_EXCEEDED"},
		{keyIDs[keys[2]], "DISABLED"}, {keyIDs[keys[3]], "RATE_LIMITED"}} {
		if seen[want] == 0 {
			t.Fatalf("the clients never saw %s for %s: %v", want.outcome, want.key, seen)
		}
	}
	db := openClickHouse(t, cfg.ClickHouse.URL)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		got := countsIn(t, db, uniqueQuery)
		return sameCounts(got, seen), fmt.Sprintf("clickhouse %v, clients saw %v", got, seen)
	})
	expectAllCounts(t, db, seen)

	// Rate-limit decisions: 5 of 12 pass.
	passed := 0
	for range 12 {
		var out struct{ Success bool }
		b.must(t, b.RootKey, "ratelimit.limit", map[string]any{"namespace": "analytics.e2e", "identifier": "user_1",
			"limit": 5, "duration": 600000}, &out)
		if out.Success {
			passed++
		}
	}
	if passed != 5 {
		t.Fatalf("%d of 12 passed, want 5", passed)
	}
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		var yes, no uint64
		if err := db.Conn.QueryRow(context.Background(),
			"SELECT uniqExactIf(event_id, passed = 1), uniqExactIf(event_id, passed = 0) FROM ratelimits_raw_v1 WHERE identifier = 'user_1'").Scan(&yes, &no); err != nil {
			return false, err.Error()
		}
		return yes == 5 && no == 7, fmt.Sprintf("clickhouse has %d passed and %d denied, want 5 and 7", yes, no)
	})
}

// With Redis down, a node keeps analytics records in its bounded buffer and
// delivers them once Redis answers again; past the bound it drops, and
// counts every drop: published + dropped always equals what was emitted.
func TestAnalyticsBufferSurvivesRedisOutage(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := postgresConfig(t)
	cfg.Redis = &configs.Redis{URL: r.URL, KeyPrefix: "keyline:rl:", StreamPrefix: ""}
	cfg.Analytics = configs.Analytics{BufferSize: 3000, Retention: 1_000_000, BatchSize: 200, FlushIntervalMs: 20}
	ts := startServer(t, cfg)
	sink := ts.Server.Analytics.Sink
	var mu sync.Mutex
	want := map[keyOutcome]int{}

	emitVerifications(sink, 500, "before", &mu, want)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return sink.Published() == 500, fmt.Sprintf("published %d of 500 before the outage", sink.Published())
	})

	r.Stop()
	emitVerifications(sink, 2000, "during", &mu, want) // fits the 3000-record buffer
	if d := sink.Dropped(); d != 0 {
		t.Fatalf("%d records dropped while the buffer still had room", d)
	}
	r.Start() // an empty Redis: it keeps nothing on disk
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		return sink.Published() == 2500, fmt.Sprintf("published %d of 2500 after Redis returned", sink.Published())
	})
	client, err := redisstream.NewClient(context.Background(), r.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	n, err := client.XLen(context.Background(), redisstream.AnalyticsTopic).Result()
	if err != nil || n != 2000 {
		t.Fatalf("stream holds %d records (%v), want the 2000 emitted during the outage", n, err)
	}

	// Past the bound: Redis down again and 5000 more records than the
	// buffer holds. Every record is either delivered later or counted as
	// dropped, none disappears silently.
	r.Stop()
	emitVerifications(sink, 8000, "overflow", &mu, want)
	if sink.Dropped() == 0 {
		t.Fatal("no drop counted although 8000 records met a 3000-record buffer")
	}
	r.Start()
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		got := sink.Published() - 2500 + sink.Dropped()
		return got == 8000, fmt.Sprintf("published %d + dropped %d of 8000", sink.Published()-2500, sink.Dropped())
	})
}

// ClickHouse stopped under load and started again: every record emitted
// before, during and after the outage is counted once, raw table and
// rollups alike. The issue asks for 5 minutes at 1000 records/s; the test
// keeps the rate and shortens the outage to 15 s so it fits in CI, and the
// stream's retention (1M records) bounds how long an outage may be.
//
// It runs on both paths: records carried by the Redis stream, and records
// kept in the local store (no Redis), read by the local projector.
func TestAnalyticsSurviveClickHouseOutage(t *testing.T) {
	for _, mode := range []string{"redis", "local store"} {
		t.Run(mode, func(t *testing.T) { analyticsSurviveClickHouseOutage(t, mode == "redis") })
	}
}

func analyticsSurviveClickHouseOutage(t *testing.T, withRedis bool) {
	ch := testenv.StartClickHouse(t)
	cfg := analyticsConfig(t, false)
	if !withRedis {
		cfg.Redis = nil
	}
	cfg.ClickHouse = &configs.ClickHouse{URL: ch.URL}
	ts := startServer(t, withNode(t, cfg, "node_outage"))
	if (ts.Server.Analytics.LocalProjector != nil) == withRedis {
		t.Fatalf("redis %v: local projector %v", withRedis, ts.Server.Analytics.LocalProjector != nil)
	}
	sink := ts.Server.Analytics.Sink

	want := map[keyOutcome]int{}
	var mu sync.Mutex
	phase := func(tag string, seconds int) {
		// 1000 records/s in 10 ms slices of 10.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := range seconds * 100 {
			<-tick.C
			emitVerifications(sink, 10, fmt.Sprintf("%s_%d", tag, i), &mu, want)
		}
	}
	// KEYLINE_TEST_CLICKHOUSE_OUTAGE_S lengthens the outage for a manual run
	// of the full 5 minutes (300).
	outage := 15
	if v, err := strconv.Atoi(os.Getenv("KEYLINE_TEST_CLICKHOUSE_OUTAGE_S")); err == nil && v > 0 {
		outage = v
	}
	phase("before", 3)
	ch.Stop()
	phase("during", outage)
	ch.Start()
	phase("after", 3)
	if d := sink.Dropped(); d != 0 {
		t.Fatalf("sink dropped %d records", d)
	}
	if n := (outage + 6) * 1000; total(want) != n {
		t.Fatalf("emitted %d records, want %d", total(want), n)
	}
	db := openClickHouse(t, ch.URL)
	testenv.Eventually(t, 120*time.Second, func() (bool, string) {
		got := countsIn(t, db, uniqueQuery)
		return sameCounts(got, want), fmt.Sprintf("clickhouse has %d of %d records", total(got), total(want))
	})
	expectAllCounts(t, db, want)
}

// The local store keeps at most analytics.retention records, the newest.
func TestLocalAnalyticsStoreIsBounded(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Analytics.Retention = 100
	cfg.Analytics.FlushIntervalMs = 20
	srv := startServer(t, cfg)
	var mu sync.Mutex
	emitVerifications(srv.Server.Analytics.Sink, 500, "bounded", &mu, map[keyOutcome]int{})
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		p := srv.Server.Analytics.Sink.Published()
		return p == 500, fmt.Sprintf("published %d of 500", p)
	})
	ctx := context.Background()
	db := srv.Server.Store.DB()
	// Rows (a publish's records each) go whole, so up to a row's worth
	// more may be stored; no reader sees them.
	var stored, newest int64
	if err := db.Primary.QueryRowContext(ctx, "SELECT SUM(n), MAX(seq) FROM analytics_log").Scan(&stored, &newest); err != nil {
		t.Fatal(err)
	}
	if stored < 100 || stored >= 100+1024 || newest != 500 {
		t.Fatalf("local store holds %d records up to %d; want 100 to 1123, up to 500", stored, newest)
	}
	reader, err := analytics.NewLocalStore(ctx, db, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := reader.Head(ctx)
	if err != nil || first != 401 || last != 500 {
		t.Fatalf("readers see %d..%d (%v); want the newest 100 (401..500)", first, last, err)
	}
	recs, err := reader.ReadAfter(ctx, 0, 1000)
	if err != nil || len(recs) != 100 || recs[0].Position != 401 || analytics.Gap(0, recs) != 400 {
		t.Fatalf("read %d records (%v); want 401..500", len(recs), err)
	}
}

// Issue 6, Done 1: 100k verifications through two keyline processes (the
// built binary) sharing PostgreSQL, Redis and ClickHouse: ClickHouse's
// counts per key and outcome equal what the clients saw, exactly.
func TestHundredThousandVerificationsCountExactly(t *testing.T) {
	pg := testenv.FreshPostgresDatabase(t)
	chURL := testenv.FreshClickHouseDatabase(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t)
	root := "kl_root_test_" + handlers.NewID("k")
	nodes := make([]*testServer, 2)
	for i := range nodes {
		port := testenv.FreePort(t)
		config := writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": pg},
			"redis":      map[string]any{"url": redisURL, "streamPrefix": prefix, "keyPrefix": prefix + "rl:"},
			"clickhouse": map[string]any{"url": chURL},
			"analytics":  map[string]any{"bufferSize": 100000},
			"bootstrap":  map[string]any{"rootKey": root},
			"cluster": map[string]any{"nodeId": fmt.Sprintf("node_%d", i), "advertiseAddr": "127.0.0.1",
				"secret": "hundred-k", "rpcPort": strconv.Itoa(testenv.FreePort(t)), "gossipPort": strconv.Itoa(testenv.FreePort(t)),
				"discovery": map[string]any{"static": map[string]any{"addrs": []string{"127.0.0.1:1"}}}},
		})
		_, ts := startFromConfig(t, config, port)
		ts.RootKey = root
		nodes[i] = ts
	}
	api := nodes[0].createAPI(t, root, "hundred thousand")
	keys := make([]string, 4)
	ids := make([]string, 4)
	for i := range keys {
		body := map[string]any{"apiId": api}
		switch i {
		case 1:
			body["credits"] = map[string]any{"remaining": 20000}
		case 2:
			body["enabled"] = false
		}
		ids[i], keys[i] = nodes[0].createKey(t, root, body)
	}
	const count, workers = 100_000, 64
	bodies := make([][]byte, len(keys))
	for i, k := range keys {
		bodies[i], _ = json.Marshal(map[string]any{"key": k})
	}
	jobs := make(chan int, 1024)
	go func() {
		for i := range count {
			jobs <- i
		}
		close(jobs)
	}()
	c := fastClient()
	seen := map[keyOutcome]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[keyOutcome]int{}
			for i := range jobs {
				k := i % len(keys)
				code, err := verifyCode(c, nodes[i%len(nodes)], bodies[k])
				if err != nil {
					failed.Add(1)
					continue
				}
				local[keyOutcome{ids[k], code}]++
			}
			mu.Lock()
			for ko, n := range local {
				seen[ko] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d verifications failed", failed.Load())
	}
	if total(seen) != count || seen[keyOutcome{ids[1], "USAGE_EXCEEDED"}] != count/4-20000 || seen[keyOutcome{ids[2], "DISABLED"}] != count/4 {
		t.Fatalf("clients saw %v", seen)
	}
	db := openClickHouse(t, chURL)
	testenv.Eventually(t, 180*time.Second, func() (bool, string) {
		got := countsIn(t, db, uniqueQuery)
		return sameCounts(got, seen), fmt.Sprintf("clickhouse has %d of %d verifications", total(got), total(seen))
	})
	expectAllCounts(t, db, seen)
}
