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
	"github.com/keyline/keyline/infra/analytics"
	"github.com/keyline/keyline/infra/testenv"
)

// analyticsBackend is a server answering analytics queries from one
// backend, with workspaces A and B and an API in A whose key space the
// records use.
type analyticsBackend struct {
	name  string
	ts    *testServer
	a, b  handlers.MintedRootKey
	apiA1 string
	ks1   string
}

func newAnalyticsBackend(t *testing.T, name string, cfg *configs.Config) *analyticsBackend {
	t.Helper()
	be := &analyticsBackend{name: name, ts: startServer(t, cfg)}
	be.a = mintIn(t, cfg, "analytics-a", "api.*.create_api", "api.*.create_key", "api.*.verify_key",
		"api.*.read_analytics", "ratelimit.*.read_analytics")
	be.b = mintIn(t, cfg, "analytics-b", "api.*.read_analytics", "ratelimit.*.read_analytics")
	be.apiA1 = be.ts.createAPI(t, be.a.RootKey, "analytics a1")
	if err := be.ts.Server.Store.DB().Primary.QueryRowContext(context.Background(),
		"SELECT key_space_id FROM apis WHERE id = ?", be.apiA1).Scan(&be.ks1); err != nil {
		t.Fatal(err)
	}
	return be
}

// crossRecords are the same records for every backend, but for the
// workspace and key-space IDs, which each server mints itself. Workspace B's
// rows carry leakMarkers.
func crossRecords(be *analyticsBackend, now time.Time) []events.AnalyticsEvent {
	today := now.UTC().Truncate(24 * time.Hour)
	day0, day1, old := today.AddDate(0, 0, -2), today.AddDate(0, 0, -1), today.AddDate(0, 0, -70)
	wsA, wsB := be.a.WorkspaceID, be.b.WorkspaceID
	var out []events.AnalyticsEvent
	n := 0
	verify := func(ws, ks, key, identity, outcome string, at time.Time, count int, tags ...string) {
		for range count {
			n++
			e := events.NewKeyVerified(at.Add(time.Duration(n)*7*time.Minute).UnixMilli(), fmt.Sprintf("req_x%d", n), ws, "local",
				events.KeyVerified{KeySpaceID: ks, KeyID: key, IdentityID: identity, ExternalID: strings.Replace(identity, "id_", "ext_", 1),
					Outcome: outcome, Tags: tags, SpentCredits: int64(n % 3), LatencyMs: 1})
			e.ID = fmt.Sprintf("aev_x_%d", n)
			out = append(out, e)
		}
	}
	verify(wsA, be.ks1, "key_1", "id_1", "VALID", day0, 3, "t:a")
	verify(wsA, be.ks1, "key_1", "id_1", "RATE_LIMITED", day0, 1, "t:a", "t:b")
	verify(wsA, be.ks1, "key_2", "", "VALID", day0, 2, "t:b")
	verify(wsA, be.ks1, "key_1", "id_1", "VALID", day1, 1)
	verify(wsA, be.ks1, "key_2", "id_2", "USAGE_EXCEEDED", day1, 2, "t:a")
	verify(wsA, "ks_other", "key_3", "", "VALID", day1, 4, "t:c")
	verify(wsA, be.ks1, "key_1", "id_1", "VALID", old, 9, "t:a")
	verify(wsB, "ks_b", "key_b_secret", "id_secret", "VALID", day0, 5, "t:secret-b")
	verify(wsB, "ks_b", "key_b_secret", "", "RATE_LIMITED", day1, 7, "t:secret-b")
	decide := func(ws, ns, identifier string, passed bool, count int) {
		for range count {
			n++
			e := events.NewRatelimitDecided(day1.Add(time.Duration(n)*3*time.Minute).UnixMilli(), fmt.Sprintf("req_x%d", n), ws, "local",
				events.RatelimitDecided{NamespaceID: ns, Identifier: identifier, Passed: passed, LatencyMs: 1})
			e.ID = fmt.Sprintf("aev_x_%d", n)
			out = append(out, e)
		}
	}
	decide(wsA, "rlns_a1", "user_1", true, 3)
	decide(wsA, "rlns_a1", "user_1", false, 1)
	decide(wsA, "rlns_a2", "user_2", true, 2)
	decide(wsB, "rlns_b", "secret_user", true, 6)
	return out
}

// crossQueries are the README's kinds of queries (per key, outcome,
// identity, tag and time bucket), over raw tables and rollups, in the shapes
// callers write them. Each must answer the same on every backend.
var crossQueries = []struct{ op, query string }{
	{"v", "SELECT toDate(toDateTime(intDiv(time, 1000))) AS day, key_id, count() AS n FROM key_verifications_v1 GROUP BY day, key_id ORDER BY day, key_id"},
	{"v", "SELECT time AS day, key_id, sum(count) AS n FROM key_verifications_per_day_v1 GROUP BY day, key_id ORDER BY day, key_id"},
	{"v", "SELECT outcome, count(*) AS n FROM key_verifications_v1 GROUP BY outcome ORDER BY outcome"},
	{"v", "SELECT outcome, count() AS n FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 7 DAY) * 1000 GROUP BY outcome ORDER BY outcome"},
	{"v", "SELECT outcome, sum(count) AS n FROM key_verifications_per_hour_v1 WHERE time >= now() - INTERVAL 7 DAY GROUP BY outcome ORDER BY n DESC, outcome"},
	{"v", "SELECT arrayJoin(tags) AS tag, count() AS n FROM key_verifications_v1 GROUP BY tag ORDER BY tag"},
	{"v", "SELECT countIf(has(tags, 't:a')) AS tagged, uniqExact(key_id) AS keys, sum(spent_credits) AS credits FROM key_verifications_v1 WHERE outcome != 'NOT_FOUND'"},
	{"v", "SELECT identity_id, external_id, count() AS n FROM key_verifications_v1 WHERE identity_id != '' GROUP BY identity_id, external_id ORDER BY identity_id"},
	{"v", "SELECT toStartOfHour(toDateTime(intDiv(time, 1000))) AS hour, count() AS n FROM key_verifications_v1 WHERE key_id = 'key_1' GROUP BY hour ORDER BY hour"},
	{"v", "SELECT time, sum(count) AS n FROM key_verifications_per_minute_v1 WHERE outcome = 'VALID' GROUP BY time ORDER BY time LIMIT 5"},
	{"v", "SELECT key_id, sum(count) AS n, sum(spent_credits) AS credits FROM key_verifications_per_month_v1 GROUP BY key_id ORDER BY key_id"},
	{"v", "SELECT count(), countIf(outcome = 'VALID'), sum(spent_credits) FROM key_verifications_v1"},
	{"v", "SELECT key_id, n FROM (SELECT key_id, count() AS n FROM key_verifications_v1 GROUP BY key_id) WHERE n > 2 ORDER BY n DESC, key_id LIMIT 2"},
	{"v", "SELECT count() AS n FROM key_verifications_v1 WHERE key_id IN (SELECT key_id FROM key_verifications_v1 WHERE outcome = 'USAGE_EXCEEDED' GROUP BY key_id)"},
	{"v", "SELECT count() AS n, sum(spent_credits) AS s, min(key_id) AS k, avg(spent_credits) AS a FROM key_verifications_v1 WHERE key_id = 'nope'"},
	{"v", "SELECT 0 / 0 AS nan, 1 / 0 AS inf, 7 / 2 AS half, count() AS n FROM key_verifications_v1 WHERE key_id = 'key_3'"},
	{"v", "SELECT k, n FROM (SELECT 'valid' AS k, count() AS n FROM key_verifications_v1 WHERE outcome = 'VALID' UNION ALL SELECT 'other' AS k, count() AS n FROM key_verifications_v1 WHERE outcome != 'VALID') ORDER BY k"},
	{"v", "SELECT key_id, avg(spent_credits) AS a, max(spent_credits) AS m, min(time) > 0 AS t FROM key_verifications_v1 GROUP BY key_id ORDER BY key_id"},
	{"v", "SELECT key_id, count() AS n FROM key_verifications_v1 WHERE key_id LIKE 'key_%' AND key_id NOT LIKE 'KEY%' AND outcome ILIKE 'valid' GROUP BY key_id ORDER BY key_id"},
	{"v", "SELECT outcome, count() AS n FROM key_verifications_v1 WHERE time BETWEEN toUnixTimestamp(toStartOfDay(now()) - INTERVAL 2 DAY) * 1000 AND toUnixTimestamp(toStartOfDay(now()) - INTERVAL 1 DAY) * 1000 - 1 GROUP BY outcome HAVING n > 1 ORDER BY outcome"},
	{"v", "SELECT key_space_id = '' AS none, count() AS n FROM key_verifications_v1 WHERE key_id IN ('key_1', 'key_3') GROUP BY none"},
	{"v", "SELECT toStartOfMonth(time) AS m, sum(count) AS n FROM key_verifications_per_day_v1 WHERE time >= '2000-01-01' OR outcome = 'VALID' GROUP BY m ORDER BY m"},
	{"v", "SELECT if(outcome = 'VALID', 'ok', 'not ok') AS o, sum(count) AS n FROM key_verifications_per_hour_v1 GROUP BY o ORDER BY o"},
	{"r", "SELECT namespace_id, sum(passed) AS passed, count() AS total FROM ratelimits_v1 GROUP BY namespace_id ORDER BY namespace_id"},
	{"r", "SELECT identifier, sum(passed) AS passed, sum(total) AS total FROM ratelimits_per_minute_v1 GROUP BY identifier ORDER BY identifier"},
	{"r", "SELECT countIf(NOT passed) AS denied, countIf(passed = 1) AS ok FROM ratelimits_v1"},
	{"r", "SELECT time, sum(total) AS total, sum(passed) AS passed FROM ratelimits_per_day_v1 GROUP BY time ORDER BY time"},
}

// outsideLocalSubset are valid queries the local store refuses (400
// invalid_analytics_query naming what is missing) rather than answer
// differently from ClickHouse.
var outsideLocalSubset = []string{
	"SELECT key_id, request_id FROM key_verifications_v1",
	"SELECT key_id FROM key_verifications_v1",
	"SELECT quantile(0.99)(latency) FROM key_verifications_v1",
	"SELECT avg(latency) AS l FROM key_verifications_v1",
	"SELECT groupArray(key_id) AS k FROM key_verifications_v1",
	"SELECT toMonday(time) AS w, sum(count) AS n FROM key_verifications_per_day_v1 GROUP BY w",
	"SELECT tags, count() AS n FROM key_verifications_v1 GROUP BY tags",
	"SELECT key_id, outcome, count() AS n FROM key_verifications_v1 GROUP BY key_id",
	"SELECT count() FROM key_verifications_v1 WHERE time >= now() - INTERVAL 1 DAY",
	"SELECT sum(count) * 2 FROM key_verifications_per_day_v1 WHERE key_id LIKE concat('key', '%')",
	// ClickHouse 18.16 answers the day number for a Date here, not seconds.
	"SELECT count() AS n FROM key_verifications_v1 WHERE time >= toUnixTimestamp(today() - INTERVAL 2 DAY) * 1000",
	"SELECT toUnixTimestamp(time) AS t, sum(count) AS n FROM key_verifications_per_day_v1 GROUP BY t",
}

func (be *analyticsBackend) answer(t *testing.T, key, op, query string) (int, string, *struct{ Type, Detail string }) {
	t.Helper()
	status, r := be.ts.call(t, key, op, map[string]any{"query": query})
	if r.Error != nil {
		return status, "", &struct{ Type, Detail string }{r.Error.Type, r.Error.Detail}
	}
	return status, string(r.Data), nil
}

func opName(short string) string {
	if short == "r" {
		return "analytics.getRatelimits"
	}
	return "analytics.getVerifications"
}

// The same queries over the same records answer the same
// from ClickHouse and from the local store (SQLite and PostgreSQL), and the
// hostile corpus is refused, or confined, on both.
func TestAnalyticsLocalStoreAnswersLikeClickHouse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	chCfg := sqliteConfig(t)
	chCfg.ClickHouse = &configs.ClickHouse{URL: testenv.FreshClickHouseDatabase(t)}
	backends := []*analyticsBackend{
		newAnalyticsBackend(t, "clickhouse", chCfg),
		newAnalyticsBackend(t, "sqlite", sqliteConfig(t)),
		newAnalyticsBackend(t, "postgres", postgresConfig(t)),
	}
	now := time.Now()
	chDB := openClickHouse(t, chCfg.ClickHouse.URL)
	for _, be := range backends {
		recs := crossRecords(be, now)
		if be.name == "clickhouse" {
			if n, err := chDB.WriteAnalytics(ctx, recs, false); err != nil || n != len(recs) {
				t.Fatalf("wrote %d of %d: %v", n, len(recs), err)
			}
			continue
		}
		store, err := analytics.NewLocalStore(ctx, be.ts.Server.Store.DB(), 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Publish(ctx, recs, false); err != nil {
			t.Fatal(err)
		}
	}
	ch := backends[0]
	// Every backend has the records (ClickHouse's rollups included; the
	// local projector runs every 250 ms) once A counts 13 in every table.
	for _, be := range backends {
		for _, q := range []string{"SELECT count() AS n FROM key_verifications_v1", "SELECT sum(count) AS n FROM key_verifications_per_minute_v1",
			"SELECT sum(count) AS n FROM key_verifications_per_month_v1"} {
			testenv.Eventually(t, 15*time.Second, func() (bool, string) {
				_, got, e := be.answer(t, be.a.RootKey, opName("v"), q)
				return got == `[{"n":13}]`, fmt.Sprintf("%s: %s %s %+v", be.name, q, got, e)
			})
		}
	}
	want := map[string]string{}
	for _, q := range crossQueries {
		status, got, e := ch.answer(t, ch.a.RootKey, opName(q.op), q.query)
		if status != 200 {
			t.Fatalf("clickhouse: %s: %d %+v", q.query, status, e)
		}
		want[q.query] = got
		for _, be := range backends[1:] {
			status, got, e := be.answer(t, be.a.RootKey, opName(q.op), q.query)
			if status != 200 || got != want[q.query] {
				t.Errorf("%s: %s\n got %d %s %+v\nwant %s (clickhouse)", be.name, q.query, status, got, e, want[q.query])
			}
		}
	}
	// The answers are the right ones, not only the same ones.
	for q, w := range map[string]string{
		crossQueries[2].query:  `[{"n":1,"outcome":"RATE_LIMITED"},{"n":2,"outcome":"USAGE_EXCEEDED"},{"n":10,"outcome":"VALID"}]`,
		crossQueries[5].query:  `[{"n":6,"tag":"t:a"},{"n":3,"tag":"t:b"},{"n":4,"tag":"t:c"}]`,
		crossQueries[6].query:  `[{"credits":13,"keys":3,"tagged":6}]`,
		crossQueries[7].query:  `[{"external_id":"ext_1","identity_id":"id_1","n":5},{"external_id":"ext_2","identity_id":"id_2","n":2}]`,
		crossQueries[11].query: `[{"count()":13,"countIf(equals(outcome, 'VALID'))":10,"sum(spent_credits)":13}]`,
		crossQueries[14].query: `[{"a":null,"k":"","n":0,"s":0}]`,
		crossQueries[15].query: `[{"half":3.5,"inf":null,"n":4,"nan":null}]`,
		crossQueries[23].query: `[{"namespace_id":"rlns_a1","passed":3,"total":4},{"namespace_id":"rlns_a2","passed":2,"total":2}]`,
	} {
		if want[q] != w {
			t.Errorf("%s:\n got %s\nwant %s", q, want[q], w)
		}
	}

	for _, be := range backends {
		// Workspace B sees only its own rows.
		_, got, _ := be.answer(t, be.b.RootKey, opName("v"), "SELECT key_id, outcome, count() AS n FROM key_verifications_v1 GROUP BY key_id, outcome ORDER BY outcome")
		if got != `[{"key_id":"key_b_secret","n":7,"outcome":"RATE_LIMITED"},{"key_id":"key_b_secret","n":5,"outcome":"VALID"}]` {
			t.Errorf("%s: workspace B sees %s", be.name, got)
		}
		// A per-API grant sees that API's key space only.
		one := mintIn(t, be.ts.Server.Config, "analytics-a", "api."+be.apiA1+".read_analytics")
		_, got, e := be.answer(t, one.RootKey, opName("v"), "SELECT key_id, sum(count) AS n FROM key_verifications_per_day_v1 GROUP BY key_id ORDER BY key_id")
		if got != `[{"key_id":"key_1","n":5},{"key_id":"key_2","n":4}]` {
			t.Errorf("%s: per-API grant sees %s %+v", be.name, got, e)
		}
		nsOnly := mintIn(t, be.ts.Server.Config, "analytics-a", "ratelimit.rlns_a1.read_analytics")
		_, got, e = be.answer(t, nsOnly.RootKey, opName("r"), "SELECT count() AS n FROM ratelimits_v1")
		if got != `[{"n":4}]` {
			t.Errorf("%s: per-namespace grant sees %s %+v", be.name, got, e)
		}
		// An explicit range beyond the retention is refused on every backend.
		status, _, e := be.answer(t, be.a.RootKey, opName("v"), "SELECT count() FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 60 DAY) * 1000")
		if status != 400 || e == nil || !strings.HasSuffix(e.Type, "query_range_exceeds_retention") {
			t.Errorf("%s: old range: %d %+v", be.name, status, e)
		}
	}

	// Outside the subset: a 400 that says why, never a number.
	for _, be := range backends[1:] {
		for _, q := range outsideLocalSubset {
			status, got, e := be.answer(t, be.a.RootKey, opName("v"), q)
			if status != 400 || e == nil || !strings.HasSuffix(e.Type, "/"+invalid) || !strings.Contains(e.Detail, "without ClickHouse") {
				t.Errorf("%s: %s: %d %s %+v, want 400 %s saying what the local store lacks", be.name, q, status, got, e, invalid)
			}
		}
	}

	// The hostile corpus: what ClickHouse refuses the local store refuses
	// the same way; what ClickHouse confines is confined there too, or
	// outside the subset (400). Never a 5xx, never a row of B.
	for _, be := range backends {
		for _, c := range hostileCorpus(be.b.WorkspaceID) {
			status, got, e := be.answer(t, be.a.RootKey, opName("v"), c.query)
			for _, m := range leakMarkers {
				if strings.Contains(got, m) {
					t.Errorf("%s: %q leaked workspace B's rows: %s", be.name, c.query, got)
				}
			}
			switch {
			case c.want != confined:
				if status != 400 || e == nil || e.Type != "https://unkey.com/docs/errors/"+c.want {
					t.Errorf("%s: %q: %d %+v, want 400 %s", be.name, c.query, status, e, c.want)
				}
			case status == 200:
				var rows []map[string]any
				if err := json.Unmarshal([]byte(got), &rows); err != nil {
					t.Errorf("%s: %q: data %s", be.name, c.query, got)
				}
			case be.name == "clickhouse" || status != 400 || e == nil || !strings.HasSuffix(e.Type, "/"+invalid):
				t.Errorf("%s: %q: %d %+v, want a confined 200 (or, locally, 400 %s)", be.name, c.query, status, e, invalid)
			}
		}
	}
}

// Records emitted by keys.verifyKey reach the local store's query tables
// (sink → analytics_log → projector) and are counted once.
func TestAnalyticsLocalStoreCountsVerifications(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  func(*testing.T) *configs.Config
	}{{"sqlite", func(t *testing.T) *configs.Config { return sqliteConfig(t) }}, {"postgres", postgresConfig}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg(t)
			cfg.Analytics.FlushIntervalMs = 50
			be := newAnalyticsBackend(t, tc.name, cfg)
			keyID, key := be.ts.createKey(t, be.a.RootKey, map[string]any{"apiId": be.apiA1})
			const n = 25
			for i := range n {
				var out struct {
					Valid bool   `json:"valid"`
					Code  string `json:"code"`
				}
				be.ts.must(t, be.a.RootKey, "keys.verifyKey", map[string]any{"key": key, "tags": []string{fmt.Sprintf("t:%d", i%2)}}, &out)
				if !out.Valid {
					t.Fatalf("verification %d: %+v", i, out)
				}
			}
			q := "SELECT key_id, outcome, count() AS n, countIf(has(tags, 't:1')) AS odd FROM key_verifications_v1 GROUP BY key_id, outcome"
			want := fmt.Sprintf(`[{"key_id":%q,"n":%d,"odd":%d,"outcome":"VALID"}]`, keyID, n, n/2)
			testenv.Eventually(t, 15*time.Second, func() (bool, string) {
				_, got, e := be.answer(t, be.a.RootKey, opName("v"), q)
				return got == want, fmt.Sprintf("got %s %+v, want %s", got, e, want)
			})
			_, got, _ := be.answer(t, be.a.RootKey, opName("v"), "SELECT sum(count) AS n FROM key_verifications_per_minute_v1")
			if got != fmt.Sprintf(`[{"n":%d}]`, n) {
				t.Fatalf("per-minute rollup: %s", got)
			}
		})
	}
}
