package clickhouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/testenv"
)

func openFresh(t *testing.T) *clickhouse.DB {
	t.Helper()
	db, err := clickhouse.Open(context.Background(), testenv.FreshClickHouseDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url, db, user, pass string
		http                bool
	}{
		{"clickhouse://127.0.0.1:9000/analytics", "analytics", "default", "", false},
		{"clickhouse://u:p%40ss@ch.internal:9000/db", "db", "u", "p@ss", false},
		{"http://u:pw@ch.internal:8123/events", "events", "u", "pw", true},
		{"https://ch.example.com:8443", "default", "default", "", true},
	} {
		o, err := clickhouse.ParseURL(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		isHTTP := o.Protocol.String() == "http"
		if o.Auth.Database != tt.db || o.Auth.Username != tt.user || o.Auth.Password != tt.pass || isHTTP != tt.http {
			t.Errorf("%s: db=%q user=%q pass=%q protocol=%s", tt.url, o.Auth.Database, o.Auth.Username, o.Auth.Password, o.Protocol)
		}
	}
	for _, bad := range []string{"postgres://x:5432/db", "clickhouse://", "://nope"} {
		if _, err := clickhouse.ParseURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestFeaturesOf(t *testing.T) {
	t.Parallel()
	if f := clickhouse.FeaturesOf("18.16.1"); f.TTL || f.AsyncInsert {
		t.Errorf("18.16: %+v", f)
	}
	if f := clickhouse.FeaturesOf("19.6.2.11"); !f.TTL || f.AsyncInsert {
		t.Errorf("19.6: %+v", f)
	}
	if f := clickhouse.FeaturesOf("25.8.1.1"); !f.TTL || !f.AsyncInsert {
		t.Errorf("25.8: %+v", f)
	}
	if f := clickhouse.FeaturesOf("garbage"); f.TTL || f.AsyncInsert {
		t.Errorf("garbage: %+v", f)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db := openFresh(t)
	ctx := context.Background()
	first, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := 5 // step 5 needs TTL, which 18.16 lacks
	if db.Features.TTL {
		want = 6
	}
	if first != want {
		t.Fatalf("first migrate applied %d steps, want %d", first, want)
	}
	again, err := db.Migrate(ctx)
	if err != nil || again != 0 {
		t.Fatalf("second migrate: applied %d, err %v", again, err)
	}
	versions, err := db.AppliedVersions(ctx)
	if err != nil || len(versions) != want || !versions[clickhouse.LatestVersion()] {
		t.Fatalf("versions %v, err %v", versions, err)
	}
}

func verification(id, key, outcome string, at int64) events.AnalyticsEvent {
	e := events.NewKeyVerified(at, "req_"+id, "ws_1", "local", events.KeyVerified{
		KeySpaceID: "ks_1", KeyID: key, Outcome: outcome, Tags: []string{"t:" + id}, SpentCredits: 1, LatencyMs: 0.5})
	e.ID = id
	return e
}

// A suspect batch (a retry, a redelivery) that repeats rows already stored
// adds only the new ones, in the raw table and in every rollup.
func TestWriteAnalyticsSuspectBatchCountsOnce(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	var batch []events.AnalyticsEvent
	for i := range 10 {
		outcome := "VALID"
		if i%2 == 1 {
			outcome = "RATE_LIMITED"
		}
		batch = append(batch, verification(fmt.Sprintf("aev_%d", i), "key_a", outcome, now+int64(i)))
	}
	rl := events.NewRatelimitDecided(now, "req_rl", "ws_1", "local", events.RatelimitDecided{NamespaceID: "ns_1", Identifier: "u1", Passed: true})
	rl.ID = "aev_rl"
	batch = append(batch, rl)

	if n, err := db.WriteAnalytics(ctx, batch[:6], false); err != nil || n != 6 {
		t.Fatalf("first write: %d, %v", n, err)
	}
	// The "crashed before ack" redelivery: everything again, plus the rest.
	if n, err := db.WriteAnalytics(ctx, batch, true); err != nil || n != 5 {
		t.Fatalf("suspect write: %d, %v", n, err)
	}
	if n, err := db.WriteAnalytics(ctx, batch, true); err != nil || n != 0 {
		t.Fatalf("repeated suspect write: %d, %v", n, err)
	}

	for _, table := range []string{"key_verifications_per_minute_v1", "key_verifications_per_hour_v1",
		"key_verifications_per_day_v1", "key_verifications_per_month_v1"} {
		rows, err := db.Conn.Query(ctx, "SELECT outcome, sum(count), sum(spent_credits) FROM "+table+" WHERE batch_marker = '' GROUP BY outcome ORDER BY outcome")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2]int64{}
		for rows.Next() {
			var outcome string
			var count uint64
			var credits int64
			if err := rows.Scan(&outcome, &count, &credits); err != nil {
				t.Fatal(err)
			}
			got[outcome] = [2]int64{int64(count), credits}
		}
		rows.Close()
		if got["VALID"] != [2]int64{5, 5} || got["RATE_LIMITED"] != [2]int64{5, 5} || len(got) != 2 {
			t.Errorf("%s: %v, want 5 VALID and 5 RATE_LIMITED with 5 credits each", table, got)
		}
	}
	var raw, unique uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM key_verifications_raw_v1").Scan(&raw, &unique); err != nil {
		t.Fatal(err)
	}
	if raw != 10 || unique != 10 {
		t.Fatalf("raw rows %d, unique %d, want 10/10", raw, unique)
	}
	var passed, total uint64
	if err := db.Conn.QueryRow(ctx, "SELECT sum(passed), sum(total) FROM ratelimits_per_day_v1 WHERE batch_marker = ''").Scan(&passed, &total); err != nil {
		t.Fatal(err)
	}
	if passed != 1 || total != 1 {
		t.Fatalf("rate-limit rollup passed %d total %d, want 1/1", passed, total)
	}
}
