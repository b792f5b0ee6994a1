package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/testenv"
)

// analyticsWorld is a server with ClickHouse and two workspaces whose
// verifications and rate-limit decisions were written to the raw tables
// (and so, through the materialized views, to every rollup).
type analyticsWorld struct {
	ts           *testServer
	a, b         handlers.MintedRootKey
	apiA1, apiA2 string
	nsA1         string
	day0, day1   time.Time
}

// Workspace B's rows carry these markers: a response that contains one
// leaked a row of another workspace.
var leakMarkers = []string{"secret", "req_b_"}

func newAnalyticsWorld(t *testing.T) *analyticsWorld {
	t.Helper()
	cfg := sqliteConfig(t)
	cfg.ClickHouse = &configs.ClickHouse{URL: testenv.FreshClickHouseDatabase(t)}
	w := &analyticsWorld{ts: startServer(t, cfg)}
	w.a = mintIn(t, cfg, "analytics-a", "api.*.create_api", "api.*.read_analytics", "ratelimit.*.read_analytics")
	w.b = mintIn(t, cfg, "analytics-b", "api.*.read_analytics", "ratelimit.*.read_analytics")
	w.apiA1 = w.ts.createAPI(t, w.a.RootKey, "analytics a1")
	w.apiA2 = w.ts.createAPI(t, w.a.RootKey, "analytics a2")
	ks1, ks2 := w.keySpace(t, w.apiA1), w.keySpace(t, w.apiA2)
	w.nsA1 = "rlns_a1"

	today := time.Now().UTC().Truncate(24 * time.Hour)
	w.day0, w.day1 = today.AddDate(0, 0, -2), today.AddDate(0, 0, -1)
	// Beyond the 30-day retention, even counted from the start of the
	// month it falls in (what the monthly rollup is cut at).
	old := today.AddDate(0, 0, -70)

	var batch []events.AnalyticsEvent
	n := 0
	verify := func(ws, ks, key, outcome, req string, at time.Time, count int, tags ...string) {
		for range count {
			n++
			e := events.NewKeyVerified(at.Add(time.Duration(n)*time.Minute).UnixMilli(), fmt.Sprintf("%s%d", req, n), ws, "local",
				events.KeyVerified{KeySpaceID: ks, KeyID: key, Outcome: outcome, Tags: tags, SpentCredits: 1, LatencyMs: 1})
			e.ID = fmt.Sprintf("aev_q_%d", n)
			batch = append(batch, e)
		}
	}
	verify(w.a.WorkspaceID, ks1, "key_1", "VALID", "req_a_", w.day0, 3, "t:a")
	verify(w.a.WorkspaceID, ks1, "key_1", "RATE_LIMITED", "req_a_", w.day0, 1, "t:a", "t:b")
	verify(w.a.WorkspaceID, ks1, "key_2", "VALID", "req_a_", w.day0, 2, "t:b")
	verify(w.a.WorkspaceID, ks1, "key_1", "VALID", "req_a_", w.day1, 1)
	verify(w.a.WorkspaceID, ks1, "key_2", "USAGE_EXCEEDED", "req_a_", w.day1, 2, "t:a")
	verify(w.a.WorkspaceID, ks2, "key_3", "VALID", "req_a_", w.day1, 4, "t:c")
	verify(w.a.WorkspaceID, ks1, "key_1", "VALID", "req_a_", old, 9, "t:a")
	verify(w.b.WorkspaceID, "ks_b", "key_b_secret", "VALID", "req_b_", w.day0, 5, "t:secret-b")
	verify(w.b.WorkspaceID, "ks_b", "key_b_secret", "RATE_LIMITED", "req_b_", w.day1, 7, "t:secret-b")
	decide := func(ws, ns, identifier string, passed bool, count int) {
		for range count {
			n++
			e := events.NewRatelimitDecided(w.day1.Add(time.Duration(n)*time.Minute).UnixMilli(), fmt.Sprintf("req_%d", n), ws, "local",
				events.RatelimitDecided{NamespaceID: ns, Identifier: identifier, Passed: passed})
			e.ID = fmt.Sprintf("aev_q_%d", n)
			batch = append(batch, e)
		}
	}
	decide(w.a.WorkspaceID, w.nsA1, "user_1", true, 3)
	decide(w.a.WorkspaceID, w.nsA1, "user_1", false, 1)
	decide(w.a.WorkspaceID, "rlns_a2", "user_2", true, 2)
	decide(w.b.WorkspaceID, "rlns_b", "secret_user", true, 6)

	db := openClickHouse(t, cfg.ClickHouse.URL)
	if written, err := db.WriteAnalytics(context.Background(), batch, false); err != nil || written != len(batch) {
		t.Fatalf("wrote %d of %d: %v", written, len(batch), err)
	}
	return w
}

func (w *analyticsWorld) keySpace(t *testing.T, apiID string) string {
	t.Helper()
	var ks string
	if err := w.ts.Server.Store.DB().Primary.QueryRowContext(context.Background(),
		"SELECT key_space_id FROM apis WHERE id = ?", apiID).Scan(&ks); err != nil {
		t.Fatal(err)
	}
	return ks
}

// rows runs query through op and returns data as compact JSON.
func (w *analyticsWorld) rows(t *testing.T, key, op, query string) string {
	t.Helper()
	status, r := w.ts.call(t, key, op, map[string]any{"query": query})
	if status != 200 {
		t.Fatalf("%s %q: status %d, error %+v", op, query, status, r.Error)
	}
	return string(r.Data)
}

// eventuallyRows waits for the rollups to show the rows the raw table has
// (the views become visible just after the raw part), then requires want.
func (w *analyticsWorld) eventuallyRows(t *testing.T, key, op, query, want string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got := w.rows(t, key, op, query)
		return got == want, fmt.Sprintf("%s\n got %s\nwant %s", query, got, want)
	})
}

func day(t time.Time) string { return t.Format("2006-01-02T15:04:05Z") }

// The Done-means queries: counts per day per key, per outcome and per tag,
// for the caller's workspace only, from the raw table and from a rollup.
func TestAnalyticsGetVerificationsRealisticQueries(t *testing.T) {
	w := newAnalyticsWorld(t)
	const op = "analytics.getVerifications"
	perDay := fmt.Sprintf(`[{"day":%q,"key_id":"key_1","n":4},{"day":%q,"key_id":"key_2","n":2},`+
		`{"day":%q,"key_id":"key_1","n":1},{"day":%q,"key_id":"key_2","n":2},{"day":%q,"key_id":"key_3","n":4}]`,
		day(w.day0), day(w.day0), day(w.day1), day(w.day1), day(w.day1))
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT toDate(toDateTime(intDiv(time, 1000))) AS day, key_id, count() AS n FROM key_verifications_v1 GROUP BY day, key_id ORDER BY day, key_id",
		perDay)
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT time AS day, key_id, sum(count) AS n FROM key_verifications_per_day_v1 GROUP BY day, key_id ORDER BY day, key_id",
		perDay)
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT outcome, count(*) AS n FROM key_verifications_v1 GROUP BY outcome ORDER BY outcome",
		`[{"n":1,"outcome":"RATE_LIMITED"},{"n":2,"outcome":"USAGE_EXCEEDED"},{"n":10,"outcome":"VALID"}]`)
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT outcome, sum(count) AS n FROM key_verifications_per_hour_v1 WHERE time >= now() - INTERVAL 7 DAY GROUP BY outcome ORDER BY n DESC",
		`[{"n":10,"outcome":"VALID"},{"n":2,"outcome":"USAGE_EXCEEDED"},{"n":1,"outcome":"RATE_LIMITED"}]`)
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT arrayJoin(tags) AS tag, count() AS n FROM key_verifications_v1 GROUP BY tag ORDER BY tag",
		`[{"n":6,"tag":"t:a"},{"n":3,"tag":"t:b"},{"n":4,"tag":"t:c"}]`)
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT countIf(has(tags, 't:a')) AS tagged, uniqExact(key_id) AS keys, sum(spent_credits) AS credits FROM key_verifications_v1 WHERE outcome != 'NOT_FOUND'",
		`[{"credits":13,"keys":3,"tagged":6}]`)
	// Workspace B sees its own rows and nothing of A's.
	w.eventuallyRows(t, w.b.RootKey, op,
		"SELECT key_id, outcome, count() AS n FROM key_verifications_v1 GROUP BY key_id, outcome ORDER BY outcome",
		`[{"key_id":"key_b_secret","n":7,"outcome":"RATE_LIMITED"},{"key_id":"key_b_secret","n":5,"outcome":"VALID"}]`)

	// An explicit range older than the retention is refused, naming it.
	status, r := w.ts.call(t, w.a.RootKey, op, map[string]any{"query": "SELECT count() FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 60 DAY) * 1000"})
	expectError(t, status, r, 400, "user/bad_request/query_range_exceeds_retention")
	if !strings.Contains(r.Error.Detail, "30 days") {
		t.Fatalf("retention detail %q does not mention 30 days", r.Error.Detail)
	}
	// Unknown columns (including the private event_id) and syntax errors.
	for _, q := range []string{"SELECT event_id FROM key_verifications_v1", "SELECT nope FROM key_verifications_v1", "SELECT FROM key_verifications_v1"} {
		status, r := w.ts.call(t, w.a.RootKey, op, map[string]any{"query": q})
		expectError(t, status, r, 400, "user/bad_request/invalid_analytics_query")
	}
	status, r = w.ts.call(t, w.a.RootKey, op, map[string]any{"query": "SELECT key_id FROM key_verifications_v1 WHERE key_id = '" + strings.Repeat("x", handlers.AnalyticsMaxQueryLength) + "'"})
	expectError(t, status, r, 400, "user/bad_request/invalid_analytics_query")
	if !strings.Contains(r.Error.Detail, "maximum length") {
		t.Fatalf("length detail %q", r.Error.Detail)
	}
	// NaN and infinities become null.
	w.eventuallyRows(t, w.a.RootKey, op,
		"SELECT 0 / 0 AS nan, 1 / 0 AS inf, count() AS n FROM key_verifications_v1 WHERE key_id = 'key_3'",
		`[{"inf":null,"n":4,"nan":null}]`)
	// Extra body properties are allowed, as in Unkey's schema.
	status, r = w.ts.call(t, w.a.RootKey, op, map[string]any{"query": "SELECT count() AS n FROM key_verifications_v1 WHERE key_id = 'key_3'", "extra": true})
	if status != 200 || string(r.Data) != `[{"n":4}]` {
		t.Fatalf("with an extra property: %d %s %+v", status, r.Data, r.Error)
	}
}

// api.<apiId>.read_analytics sees only that API's key space; a grant for an
// API of another workspace or a deleted one sees nothing.
func TestAnalyticsPerAPIReadAnalytics(t *testing.T) {
	w := newAnalyticsWorld(t)
	const op = "analytics.getVerifications"
	cfg := w.ts.Server.Config
	one := mintIn(t, cfg, "analytics-a", "api."+w.apiA1+".read_analytics")
	w.eventuallyRows(t, one.RootKey, op,
		"SELECT key_id, count() AS n FROM key_verifications_v1 GROUP BY key_id ORDER BY key_id",
		`[{"key_id":"key_1","n":5},{"key_id":"key_2","n":4}]`)
	w.eventuallyRows(t, one.RootKey, op,
		"SELECT key_id, sum(count) AS n FROM key_verifications_per_month_v1 GROUP BY key_id ORDER BY key_id",
		`[{"key_id":"key_1","n":5},{"key_id":"key_2","n":4}]`)
	both := mintIn(t, cfg, "analytics-a", "api."+w.apiA1+".read_analytics", "api."+w.apiA2+".read_analytics")
	w.eventuallyRows(t, both.RootKey, op, "SELECT count() AS n FROM key_verifications_v1", `[{"n":13}]`)
	foreign := mintIn(t, cfg, "analytics-b", "api."+w.apiA1+".read_analytics")
	w.eventuallyRows(t, foreign.RootKey, op, "SELECT count() AS n FROM key_verifications_v1", `[{"n":0}]`)
	none := mintIn(t, cfg, "analytics-a", "api.*.read_api", "ratelimit.*.read_analytics")
	status, r := w.ts.call(t, none.RootKey, op, map[string]any{"query": "SELECT 1 FROM key_verifications_v1"})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// Rate limits: wildcard, per namespace, workspace B.
	const rl = "analytics.getRatelimits"
	q := "SELECT namespace_id, sum(passed) AS passed, count() AS total FROM ratelimits_v1 GROUP BY namespace_id ORDER BY namespace_id"
	w.eventuallyRows(t, w.a.RootKey, rl, q,
		`[{"namespace_id":"rlns_a1","passed":3,"total":4},{"namespace_id":"rlns_a2","passed":2,"total":2}]`)
	nsOnly := mintIn(t, cfg, "analytics-a", "ratelimit."+w.nsA1+".read_analytics")
	w.eventuallyRows(t, nsOnly.RootKey, rl, q, `[{"namespace_id":"rlns_a1","passed":3,"total":4}]`)
	w.eventuallyRows(t, nsOnly.RootKey, rl,
		"SELECT identifier, sum(passed) AS passed, sum(total) AS total FROM ratelimits_per_minute_v1 GROUP BY identifier",
		`[{"identifier":"user_1","passed":3,"total":4}]`)
	w.eventuallyRows(t, w.b.RootKey, rl, q, `[{"namespace_id":"rlns_b","passed":6,"total":6}]`)
	status, r = w.ts.call(t, w.a.RootKey, rl, map[string]any{"query": "SELECT count() FROM key_verifications_v1"})
	expectError(t, status, r, 400, "user/bad_request/invalid_analytics_table")
}

// Issue 6, Done 2, as a caller sees it: after a batch reached the raw tables
// but not the per-minute rollups (a server crash between the parts,
// simulated by detaching those views), the suspect retry re-derives it, and
// every rollup then sums to exactly the raw count for the caller. The
// rollups' marker rows (one per batch, empty workspace) never show, and their
// column is not queryable.
func TestAnalyticsRollupsMatchRawAfterRepair(t *testing.T) {
	w := newAnalyticsWorld(t)
	ctx := context.Background()
	db := openClickHouse(t, w.ts.Server.Config.ClickHouse.URL)
	ks1 := w.keySpace(t, w.apiA1)
	var cutShort, fresh []events.AnalyticsEvent
	for i := range 30 {
		at := w.day1.Add(12*time.Hour + time.Duration(i)*time.Minute).UnixMilli()
		v := events.NewKeyVerified(at, fmt.Sprintf("req_r%d", i), w.a.WorkspaceID, "local",
			events.KeyVerified{KeySpaceID: ks1, KeyID: "key_4", Outcome: "VALID", SpentCredits: 1, LatencyMs: 1})
		v.ID = fmt.Sprintf("aev_r_%d", i)
		d := events.NewRatelimitDecided(at, fmt.Sprintf("req_r%d", i), w.a.WorkspaceID, "local",
			events.RatelimitDecided{NamespaceID: w.nsA1, Identifier: "user_9", Passed: i%2 == 0})
		d.ID = fmt.Sprintf("aev_rl_%d", i)
		if i < 20 {
			cutShort = append(cutShort, v, d)
		} else {
			fresh = append(fresh, v, d)
		}
	}
	views := []string{"key_verifications_per_minute_v1_mv", "ratelimits_per_minute_v1_mv"}
	for _, v := range views {
		if err := db.Conn.Exec(ctx, "DETACH TABLE "+v); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.WriteAnalytics(ctx, cutShort, false); err != nil || n != len(cutShort) {
		t.Fatalf("wrote %d of %d: %v", n, len(cutShort), err)
	}
	for _, v := range views {
		if err := db.Conn.Exec(ctx, "ATTACH TABLE "+v); err != nil {
			t.Fatal(err)
		}
	}
	const ver, rl = "analytics.getVerifications", "analytics.getRatelimits"
	// Workspace A had 13 verifications and 6 decisions in the retention.
	w.eventuallyRows(t, w.a.RootKey, ver, "SELECT sum(count) AS n FROM key_verifications_per_minute_v1", `[{"n":13}]`)
	w.eventuallyRows(t, w.a.RootKey, ver, "SELECT count() AS n FROM key_verifications_v1", `[{"n":33}]`)

	if n, err := db.WriteAnalytics(ctx, append(cutShort, fresh...), true); err != nil || n != len(fresh) {
		t.Fatalf("suspect retry wrote %d, want %d: %v", n, len(fresh), err)
	}
	var markers uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count() FROM key_verifications_per_minute_v1 WHERE batch_marker != ''").Scan(&markers); err != nil || markers < 3 {
		t.Fatalf("%d marker rows (%v): the rollup should hold one per batch", markers, err)
	}
	for _, g := range []string{"minute", "hour", "day", "month"} {
		w.eventuallyRows(t, w.a.RootKey, ver,
			"SELECT sum(count) AS n, sum(spent_credits) AS credits FROM key_verifications_per_"+g+"_v1", `[{"credits":43,"n":43}]`)
		w.eventuallyRows(t, w.a.RootKey, rl,
			"SELECT sum(passed) AS passed, sum(total) AS total FROM ratelimits_per_"+g+"_v1", `[{"passed":20,"total":36}]`)
		w.eventuallyRows(t, w.a.RootKey, ver,
			"SELECT count() AS n FROM key_verifications_per_"+g+"_v1 WHERE workspace_id = '' OR key_id = ''", `[{"n":0}]`)
	}
	w.eventuallyRows(t, w.a.RootKey, ver,
		"SELECT count() AS n, sum(spent_credits) AS credits FROM key_verifications_v1", `[{"credits":43,"n":43}]`)
	w.eventuallyRows(t, w.a.RootKey, rl, "SELECT sum(passed) AS passed, count() AS total FROM ratelimits_v1", `[{"passed":20,"total":36}]`)
	w.eventuallyRows(t, w.a.RootKey, ver,
		"SELECT key_id, sum(count) AS n FROM key_verifications_per_minute_v1 WHERE key_id = 'key_4' GROUP BY key_id", `[{"key_id":"key_4","n":30}]`)
	w.eventuallyRows(t, w.b.RootKey, ver, "SELECT sum(count) AS n FROM key_verifications_per_minute_v1", `[{"n":12}]`)

	for _, q := range []string{"SELECT batch_marker FROM key_verifications_per_minute_v1",
		"SELECT count() FROM key_verifications_per_day_v1 WHERE batch_marker != ''",
		"SELECT batch_id FROM key_verifications_v1"} {
		status, r := w.ts.call(t, w.a.RootKey, ver, map[string]any{"query": q})
		expectError(t, status, r, 400, "user/bad_request/invalid_analytics_query")
	}
	status, r := w.ts.call(t, w.a.RootKey, rl, map[string]any{"query": "SELECT batch_marker FROM ratelimits_per_hour_v1"})
	expectError(t, status, r, 400, "user/bad_request/invalid_analytics_query")
	if got := w.rows(t, w.a.RootKey, ver, "SELECT * FROM key_verifications_per_minute_v1 LIMIT 1"); strings.Contains(got, "batch") {
		t.Fatalf("SELECT * shows a batch column: %s", got)
	}
}

// With Redis and without ClickHouse the records go to the Redis stream,
// which only the ClickHouse projector reads: nothing can answer. (Without
// Redis the local store answers: analytics_local_test.go.)
func TestAnalyticsNotConfigured(t *testing.T) {
	cfg := sqliteConfig(t)
	prefix := testenv.RedisPrefix(t)
	cfg.Redis = &configs.Redis{URL: testenv.RedisURL(t), StreamPrefix: prefix, KeyPrefix: prefix + "rl:"}
	ts := startServer(t, cfg)
	key := mintIn(t, cfg, "default", "api.*.read_analytics", "ratelimit.*.read_analytics").RootKey
	for _, op := range []string{"analytics.getVerifications", "analytics.getRatelimits"} {
		status, r := ts.call(t, key, op, map[string]any{"query": "SELECT count() FROM key_verifications_v1"})
		expectError(t, status, r, 412, "unkey/data/analytics_not_configured")
		if r.Error.Title != "Precondition Failed" {
			t.Fatalf("title %q", r.Error.Title)
		}
	}
}

// The hostile corpus: every query is refused with a 400, or runs confined to
// the caller's workspace (no row of workspace B in the answer). None may
// cause a 5xx.
func TestAnalyticsHostileQueries(t *testing.T) {
	w := newAnalyticsWorld(t)
	const op = "analytics.getVerifications"
	// Wait until the data is there, so that "no row of B" means something.
	w.eventuallyRows(t, w.b.RootKey, op, "SELECT count() AS n FROM key_verifications_per_day_v1", `[{"n":2}]`)
	corpus := hostileCorpus(w.b.WorkspaceID)
	if len(corpus) < 50 {
		t.Fatalf("only %d hostile queries", len(corpus))
	}
	for _, c := range corpus {
		status, r := w.ts.call(t, w.a.RootKey, op, map[string]any{"query": c.query})
		if c.want == confined {
			if status != 200 {
				t.Errorf("%q: status %d %+v, want a confined 200", c.query, status, r.Error)
				continue
			}
			var rows []map[string]any
			if err := json.Unmarshal(r.Data, &rows); err != nil {
				t.Errorf("%q: data %s", c.query, r.Data)
			}
			for _, m := range leakMarkers {
				if strings.Contains(string(r.Data), m) {
					t.Errorf("%q leaked workspace B's rows: %s", c.query, r.Data)
				}
			}
			continue
		}
		if status != 400 || r.Error == nil || r.Error.Type != "https://unkey.com/docs/errors/"+c.want {
			t.Errorf("%q: status %d error %+v, want 400 %s", c.query, status, r.Error, c.want)
		}
	}
	// The tables are all still there.
	w.eventuallyRows(t, w.b.RootKey, op, "SELECT count() AS n FROM key_verifications_v1", `[{"n":12}]`)
}

// hostileQuery is one entry of the hostile corpus: the error type it must
// get (a 400), or confined ("") for a 200 without workspace B's rows.
type hostileQuery struct{ query, want string }

const (
	queryType = "user/bad_request/invalid_analytics_query_type"
	table     = "user/bad_request/invalid_analytics_table"
	function  = "user/bad_request/invalid_analytics_function"
	invalid   = "user/bad_request/invalid_analytics_query"
	confined  = "" // answers 200, without B's rows
)

// hostileCorpus is the hostile corpus against a caller of workspace A, B
// being the other workspace's ID.
func hostileCorpus(B string) []hostileQuery {
	return []hostileQuery{
		{"SELECT * FROM system.tables", table},
		{"SELECT * FROM system.numbers LIMIT 1", table},
		{"select name from SYSTEM.DATABASES", table},
		{"SELECT * FROM `system`.`tables`", table},
		{"SELECT * FROM default.key_verifications_raw_v1", table},
		{"SELECT * FROM key_verifications_raw_v1", table},
		{"SELECT * FROM `key_verifications_raw_v1`", table},
		{`SELECT * FROM "key_verifications_raw_v1"`, table},
		{"SELECT * FROM KEY_VERIFICATIONS_V1", table},
		{"SELECT * FROM audit_log_v1", table},
		{"SELECT * FROM schema_migrations", table},
		{"SELECT * FROM key_verifications_per_day_v1_mv", table},
		{"SELECT * FROM ratelimits_raw_v1", table},
		{"SELECT * FROM ratelimits_v1", table},
		{"SELECT * FROM url('http://127.0.0.1:9/', CSV, 'a String')", table},
		{"SELECT * FROM file('/etc/passwd', CSV, 'a String')", table},
		{"SELECT * FROM remote('127.0.0.1', default, key_verifications_raw_v1)", table},
		{"SELECT * FROM remote('127.0.0.1', system.tables)", table},
		{"SELECT * FROM s3('http://x/y', CSV)", table},
		{"SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", table},
		{"SELECT * FROM numbers(10)", table},
		{"SELECT * FROM merge(currentDatabase(), '.*')", table},
		{"SELECT 1", table},
		{"SELECT key_id FROM key_verifications_v1 UNION ALL SELECT key_id FROM default.key_verifications_raw_v1", table},
		{"SELECT key_id, workspace_id FROM key_verifications_v1 UNION ALL SELECT key_id, workspace_id FROM key_verifications_raw_v1", table},
		{"SELECT key_id FROM key_verifications_v1 UNION SELECT key_id FROM key_verifications_v1", invalid},
		{"SELECT key_id FROM key_verifications_v1 INTERSECT SELECT key_id FROM key_verifications_v1", invalid},
		{"SELECT key_id FROM key_verifications_v1 UNION ALL SELECT key_id FROM key_verifications_v1 WHERE workspace_id = '" + B + "'", confined},
		{"SELECT key_id, tags FROM (SELECT * FROM key_verifications_raw_v1)", table},
		{"SELECT key_id, tags FROM (SELECT * FROM key_verifications_v1 WHERE workspace_id = '" + B + "')", confined},
		{"SELECT * FROM (SELECT * FROM (SELECT * FROM key_verifications_v1))", confined},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id IN (SELECT key_id FROM default.key_verifications_raw_v1)", table},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id IN (SELECT key_id FROM key_verifications_v1 WHERE workspace_id = '" + B + "')", confined},
		{"SELECT key_id, request_id FROM key_verifications_v1 WHERE workspace_id = '" + B + "' OR 1 = 1", confined},
		{"SELECT key_id, request_id FROM key_verifications_v1 WHERE key_id = '' OR 1=1 --'", confined},
		{"SELECT key_id, request_id FROM key_verifications_v1 WHERE key_id = 'a\\' OR workspace_id = \\'" + B + "'", confined},
		{"SELECT key_id, request_id FROM key_verifications_v1 WHERE key_id = 'x'' OR ''1''=''1'", confined},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id = 'x' OR workspace_id != '' /*", invalid},
		{"SELECT key_id FROM key_verifications_v1; SELECT * FROM system.tables", invalid},
		{"SELECT key_id FROM key_verifications_v1; DROP TABLE key_verifications_raw_v1", invalid},
		{"DROP TABLE key_verifications_raw_v1", queryType},
		{"drop table key_verifications_v1", queryType},
		{"INSERT INTO key_verifications_raw_v1 (event_id) VALUES ('x')", queryType},
		{"ALTER TABLE key_verifications_raw_v1 DELETE WHERE 1", queryType},
		{"TRUNCATE TABLE key_verifications_raw_v1", queryType},
		{"SHOW TABLES", queryType},
		{"DESCRIBE TABLE key_verifications_raw_v1", queryType},
		{"SET max_memory_usage = 0", queryType},
		{"EXPLAIN SELECT 1", queryType},
		{"KILL QUERY WHERE 1", queryType},
		{"SYSTEM SHUTDOWN", queryType},
		{"SELECT key_id FROM key_verifications_v1 SETTINGS max_execution_time = 0", invalid},
		{"SELECT key_id FROM key_verifications_v1 SETTINGS readonly = 0", invalid},
		{"SELECT key_id FROM key_verifications_v1 FORMAT TabSeparated", invalid},
		{"SELECT key_id FROM key_verifications_v1 INTO OUTFILE '/tmp/leak'", invalid},
		{"SELECT key_id FROM key_verifications_v1 /* hidden */ UNION ALL SELECT name FROM system.tables", table},
		{"SELECT key_id FROM key_verifications_v1 -- comment\n UNION ALL SELECT name FROM system.tables", table},
		{"SELECT key_id FROM key_verifications_v1 -- UNION ALL SELECT name FROM system.tables", confined},
		{"SELECT key_id FROM key_verifications_v1 /* UNION ALL SELECT * FROM key_verifications_raw_v1 */", confined},
		{"select KEY_ID from key_verifications_v1 Where Workspace_Id = '" + B + "'", invalid},
		{"SeLeCt key_id, request_id FrOm key_verifications_v1 WhErE workspace_id = '" + B + "'", confined},
		{"SELECT `key_id`, `request_id` FROM `key_verifications_v1` AS `k` WHERE `k`.`workspace_id` LIKE '%'", confined},
		{"SELECT a.key_id FROM key_verifications_v1 AS a JOIN key_verifications_raw_v1 AS b ON a.key_id = b.key_id", invalid},
		{"SELECT a.key_id FROM key_verifications_v1 AS a ALL INNER JOIN key_verifications_v1 AS b USING key_id", invalid},
		{"SELECT key_id FROM key_verifications_v1 ARRAY JOIN tags", invalid},
		{"SELECT key_id FROM key_verifications_v1, system.tables", invalid},
		{"SELECT key_id FROM key_verifications_v1 GLOBAL ANY LEFT JOIN key_verifications_raw_v1 USING key_id", invalid},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id IN key_verifications_raw_v1", invalid},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id GLOBAL IN (SELECT key_id FROM key_verifications_raw_v1)", invalid},
		{"SELECT joinGet('t', 'c', 1) FROM key_verifications_v1", function},
		{"SELECT dictGetString('d', 'a', toUInt64(1)) FROM key_verifications_v1", function},
		{"SELECT currentDatabase() FROM key_verifications_v1", function},
		{"SELECT version() FROM key_verifications_v1", function},
		{"SELECT hostName() FROM key_verifications_v1", function},
		{"SELECT key_id FROM key_verifications_v1 WHERE (SELECT count() FROM system.tables) > 0", table},
		{"SELECT key_id FROM key_verifications_v1 WHERE exists(SELECT 1 FROM system.tables)", function},
		{"SELECT 'workspace_id' AS workspace_id, key_id, request_id FROM key_verifications_v1 WHERE workspace_id = 'workspace_id'", confined},
		{"SELECT key_id, request_id, '" + B + "' AS workspace_id FROM key_verifications_v1 WHERE workspace_id = '" + B + "'", confined},
		{"SELECT key_id FROM key_verifications_v1 SAMPLE 0.1", invalid},
		{"SELECT key_id FROM key_verifications_v1 FINAL", invalid},
		{"SELECT key_id FROM key_verifications_v1 PREWHERE workspace_id = '" + B + "'", invalid},
		{"WITH (SELECT 1) AS x SELECT key_id FROM key_verifications_v1", invalid},
		{"SELECT key_id FROM key_verifications_v1 LIMIT 1 BY key_id", invalid},
		// NUL is refused in every request string (docs/SECURITY.md).
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id = '\x00' OR 1 = 1", "unkey/application/invalid_input"},
		{"SELECT key_id, request_id FROM key_verifications_v1 AS key_verifications_raw_v1 WHERE key_verifications_raw_v1.workspace_id != ''", confined},
		{"SELECT key_id, request_id FROM (SELECT * FROM key_verifications_v1) AS system WHERE 1", confined},
		{"SELECT `key_id` FROM `key_verifications_v1` WHERE `workspace_id`` = 'x'", invalid},
		{"SELECT count() FROM key_verifications_v1 WHERE time >= 0", "user/bad_request/query_range_exceeds_retention"},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id = 'x' \\; SELECT 1", invalid},
		{"SELECT key_id FROM key_verifications_v1 WHERE key_id LIKE '%' || '' ", confined},
		{"(SELECT key_id FROM key_verifications_v1) UNION ALL (SELECT name FROM system.tables)", table},
	}
}
