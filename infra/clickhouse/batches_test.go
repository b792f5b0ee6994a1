package clickhouse_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
)

var grains = []string{"minute", "hour", "day", "month"}

// verifications returns n records over 3 keys and 2 outcomes, one a minute
// from start, with IDs tag_0, tag_1, ...
func verifications(tag string, n int, start time.Time) []events.AnalyticsEvent {
	out := make([]events.AnalyticsEvent, n)
	for i := range n {
		outcome := "VALID"
		if i%2 == 1 {
			outcome = "RATE_LIMITED"
		}
		out[i] = verification(fmt.Sprintf("%s_%d", tag, i), fmt.Sprintf("key_%d", i%3), outcome,
			start.Add(time.Duration(i)*time.Minute).UnixMilli())
	}
	return out
}

// decisions returns n rate-limit decisions over 2 identifiers, two in three
// passed.
func decisions(tag string, n int, start time.Time) []events.AnalyticsEvent {
	out := make([]events.AnalyticsEvent, n)
	for i := range n {
		e := events.NewRatelimitDecided(start.Add(time.Duration(i)*time.Minute).UnixMilli(), "req_"+tag, "ws_1", "local",
			events.RatelimitDecided{NamespaceID: "ns_1", Identifier: fmt.Sprintf("user_%d", i%2), Passed: i%3 != 0, LatencyMs: 0.25})
		e.ID = fmt.Sprintf("%s_%d", tag, i)
		out[i] = e
	}
	return out
}

// lines runs query, whose one column is a String, and joins its rows.
func lines(t *testing.T, db *clickhouse.DB, query string) string {
	t.Helper()
	rows, err := db.Conn.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func exec(t *testing.T, db *clickhouse.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if err := db.Conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Per (key, outcome): distinct events, credits. Per identifier: passed, total.
const (
	rawVerifications = "SELECT concat(key_id, '/', outcome, '=', toString(uniqExact(event_id)), '/', toString(sum(spent_credits))) AS r " +
		"FROM key_verifications_raw_v1 FINAL GROUP BY key_id, outcome ORDER BY r"
	rawRatelimits = "SELECT concat(identifier, '=', toString(sum(passed)), '/', toString(uniqExact(event_id))) AS r " +
		"FROM ratelimits_raw_v1 FINAL GROUP BY identifier ORDER BY r"
	rawVerificationBatches = "SELECT concat(batch_id, '=', toString(uniqExact(event_id))) AS r FROM key_verifications_raw_v1 " +
		"WHERE batch_id != '' GROUP BY batch_id ORDER BY r"
	rawRatelimitBatches = "SELECT concat(batch_id, '=', toString(uniqExact(event_id))) AS r FROM ratelimits_raw_v1 " +
		"WHERE batch_id != '' GROUP BY batch_id ORDER BY r"
)

// notMarkers leaves the marker rows out; before step 6 there are none.
const notMarkers = "WHERE batch_marker = ''"

func verificationRollup(grain, where string) string {
	return "SELECT concat(key_id, '/', outcome, '=', toString(sum(count)), '/', toString(sum(spent_credits))) AS r " +
		"FROM key_verifications_per_" + grain + "_v1 " + where + " GROUP BY key_id, outcome ORDER BY r"
}

func ratelimitRollup(grain, where string) string {
	return "SELECT concat(identifier, '=', toString(sum(passed)), '/', toString(sum(total))) AS r " +
		"FROM ratelimits_per_" + grain + "_v1 " + where + " GROUP BY identifier ORDER BY r"
}

// rollupContents is every rollup's content, markers aside.
func rollupContents(t *testing.T, db *clickhouse.DB, where string) string {
	t.Helper()
	var out strings.Builder
	for _, g := range grains {
		out.WriteString(g + ": " + lines(t, db, verificationRollup(g, where)) + " | " + lines(t, db, ratelimitRollup(g, where)) + "\n")
	}
	return out.String()
}

func markers(table, total string) string {
	return "SELECT concat(batch_marker, '=', toString(sum(" + total + "))) AS r FROM " + table +
		" WHERE batch_marker != '' GROUP BY batch_marker ORDER BY r"
}

// expectExact fails unless the raw tables hold exactly want (per key and
// outcome: "key/outcome=events/credits"; per identifier:
// "identifier=passed/total"), every rollup holds exactly what the raw table
// holds, each batch's marker counts exactly the batch's events, and no
// rollup row has an empty workspace other than a marker. It returns every
// rollup's content, to compare after a repeated call.
func expectExact(t *testing.T, db *clickhouse.DB, wantVerifications, wantRatelimits string) string {
	t.Helper()
	raw, rawRL := lines(t, db, rawVerifications), lines(t, db, rawRatelimits)
	if raw != wantVerifications {
		t.Fatalf("raw verifications\n got %s\nwant %s", raw, wantVerifications)
	}
	if rawRL != wantRatelimits {
		t.Fatalf("raw rate limits\n got %s\nwant %s", rawRL, wantRatelimits)
	}
	var snapshot strings.Builder
	for _, g := range grains {
		for _, c := range []struct{ table, rollup, want, markers, wantMarkers string }{
			{"key_verifications_per_" + g + "_v1", verificationRollup(g, notMarkers), raw,
				markers("key_verifications_per_"+g+"_v1", "count"), lines(t, db, rawVerificationBatches)},
			{"ratelimits_per_" + g + "_v1", ratelimitRollup(g, notMarkers), rawRL,
				markers("ratelimits_per_"+g+"_v1", "total"), lines(t, db, rawRatelimitBatches)},
		} {
			if got := lines(t, db, c.rollup); got != c.want {
				t.Errorf("%s\n got %s\nwant %s (the raw table)", c.table, got, c.want)
			}
			if got := lines(t, db, c.markers); got != c.wantMarkers {
				t.Errorf("%s markers\n got %s\nwant %s (the raw table's batches)", c.table, got, c.wantMarkers)
			}
			if n := lines(t, db, "SELECT toString(count()) FROM "+c.table+" WHERE workspace_id = '' AND batch_marker = ''"); n != "0" {
				t.Errorf("%s: %s rows without a workspace that are no marker", c.table, n)
			}
			snapshot.WriteString(c.table + ": " + lines(t, db, c.rollup) + " | " + lines(t, db, c.markers) + "\n")
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return snapshot.String()
}

// want renders what the raw tables must hold after evs, as expectExact
// reads it.
func want(evs ...[]events.AnalyticsEvent) (verifications, ratelimits string) {
	type agg struct{ a, b int64 }
	ver, rl := map[string]*agg{}, map[string]*agg{}
	seen := map[string]bool{}
	for _, batch := range evs {
		for _, e := range batch {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			switch {
			case e.Verification != nil:
				k := e.Verification.KeyID + "/" + e.Verification.Outcome
				if ver[k] == nil {
					ver[k] = &agg{}
				}
				ver[k].a++
				ver[k].b += e.Verification.SpentCredits
			case e.Ratelimit != nil:
				k := e.Ratelimit.Identifier
				if rl[k] == nil {
					rl[k] = &agg{}
				}
				if e.Ratelimit.Passed {
					rl[k].a++
				}
				rl[k].b++
			}
		}
	}
	render := func(m map[string]*agg, sep string) string {
		var out []string
		for k, v := range m {
			out = append(out, fmt.Sprintf("%s=%d%s%d", k, v.a, sep, v.b))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	return render(ver, "/"), render(rl, "/")
}

func concat(batches ...[]events.AnalyticsEvent) []events.AnalyticsEvent {
	var out []events.AnalyticsEvent
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

// insertRaw writes evs into the raw verification table under batch, the
// way an insert cut short by a crash leaves them: no view ran.
func insertRaw(t *testing.T, db *clickhouse.DB, batch string, evs []events.AnalyticsEvent) {
	t.Helper()
	b, err := db.Conn.PrepareBatch(context.Background(), `INSERT INTO key_verifications_raw_v1
		(event_id, request_id, time, workspace_id, key_space_id, key_id, identity_id, external_id,
		 region, outcome, tags, spent_credits, latency, batch_id)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		v := e.Verification
		if err := b.Append(e.ID, e.RequestID, e.Time, e.WorkspaceID, v.KeySpaceID, v.KeyID, v.IdentityID, v.ExternalID,
			e.Region, v.Outcome, v.Tags, v.SpentCredits, v.LatencyMs, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// Issue 6, Done 2, deterministically: a batch reached the raw table but not
// every rollup (the server died between the raw part and the view parts).
// The retry, suspect as the projector makes it, completes exactly the
// rollups that miss the batch, from the raw table, and inserts only the
// records that are new; a second retry changes nothing.
func TestWriteAnalyticsRepairsRollupsCutShort(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Across a month boundary: two raw partitions, two months in the rollups.
	start := time.Date(2025, 2, 28, 23, 50, 0, 0, time.UTC)
	a := concat(verifications("a", 30, start), decisions("a_rl", 9, start))
	b := concat(verifications("b", 40, start.Add(5*time.Minute)), decisions("b_rl", 12, start))
	c := verifications("c", 25, start.Add(30*time.Minute))
	d := concat(verifications("d", 20, start.Add(time.Hour)), decisions("d_rl", 7, start.Add(time.Hour)))

	if n, err := db.WriteAnalytics(ctx, a, false); err != nil || n != len(a) {
		t.Fatalf("batch a: %d, %v", n, err)
	}
	// b reaches the raw tables while three views are gone; c is a batch
	// some other writer left in the raw table with no view part at all,
	// under an ID that carries no time range.
	cut := []string{"key_verifications_per_minute_v1_mv", "key_verifications_per_day_v1_mv", "ratelimits_per_hour_v1_mv"}
	for _, v := range cut {
		exec(t, db, "DETACH TABLE "+v)
	}
	if n, err := db.WriteAnalytics(ctx, b, false); err != nil || n != len(b) {
		t.Fatalf("batch b: %d, %v", n, err)
	}
	for _, v := range cut {
		exec(t, db, "ATTACH TABLE "+v)
	}
	exec(t, db, "DETACH TABLE key_verifications_per_hour_v1_mv")
	insertRaw(t, db, "crashed-batch-c", c)
	exec(t, db, "ATTACH TABLE key_verifications_per_hour_v1_mv")
	for _, c := range []struct{ query, want string }{
		{"SELECT toString(sum(count)) FROM key_verifications_per_minute_v1 WHERE batch_marker = ''", "55"}, // a + c
		{"SELECT toString(sum(count)) FROM key_verifications_per_hour_v1 WHERE batch_marker = ''", "70"},   // a + b
		{"SELECT toString(sum(count)) FROM key_verifications_per_month_v1 WHERE batch_marker = ''", "95"},  // a + b + c
		{"SELECT toString(sum(total)) FROM ratelimits_per_hour_v1 WHERE batch_marker = ''", "9"},           // a
		{"SELECT toString(sum(total)) FROM ratelimits_per_day_v1 WHERE batch_marker = ''", "21"},           // a + b
	} {
		if got := lines(t, db, c.query); got != c.want {
			t.Fatalf("before the retry, %s = %s, want %s: the crash was not simulated", c.query, got, c.want)
		}
	}

	retry := concat(b, c, d)
	if n, err := db.WriteAnalytics(ctx, retry, true); err != nil || n != len(d) {
		t.Fatalf("suspect retry: wrote %d, want %d (only d), err %v", n, len(d), err)
	}
	wantVer, wantRL := want(a, b, c, d)
	first := expectExact(t, db, wantVer, wantRL)
	if n, err := db.WriteAnalytics(ctx, concat(a, retry), true); err != nil || n != 0 {
		t.Fatalf("second suspect retry: wrote %d, err %v", n, err)
	}
	if again := expectExact(t, db, wantVer, wantRL); again != first {
		t.Fatalf("a second retry changed the rollups:\n%s\nthen\n%s", first, again)
	}
}

// insertOld writes evs with the column lists of a keyline from before step
// 6, which has no batch_id.
func insertOld(t *testing.T, db *clickhouse.DB, evs []events.AnalyticsEvent) {
	t.Helper()
	ctx := context.Background()
	ver, err := db.Conn.PrepareBatch(ctx, `INSERT INTO key_verifications_raw_v1
		(event_id, request_id, time, workspace_id, key_space_id, key_id, identity_id, external_id,
		 region, outcome, tags, spent_credits, latency)`)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := db.Conn.PrepareBatch(ctx, `INSERT INTO ratelimits_raw_v1
		(event_id, request_id, time, workspace_id, namespace_id, identifier, region, passed, latency)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if v := e.Verification; v != nil {
			err = ver.Append(e.ID, e.RequestID, e.Time, e.WorkspaceID, v.KeySpaceID, v.KeyID, v.IdentityID, v.ExternalID,
				e.Region, v.Outcome, v.Tags, v.SpentCredits, v.LatencyMs)
		} else {
			r := e.Ratelimit
			var passed uint8
			if r.Passed {
				passed = 1
			}
			err = rl.Append(e.ID, e.RequestID, e.Time, e.WorkspaceID, r.NamespaceID, r.Identifier, e.Region, passed, r.LatencyMs)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ver.Send(); err != nil {
		t.Fatal(err)
	}
	if err := rl.Send(); err != nil {
		t.Fatal(err)
	}
}

// A database an older keyline created and filled (schema step 5) takes step
// 6 even after an interrupted first attempt: its rows stay, the rollups keep
// matching the raw tables for new batches, records stored before batches
// existed are never re-inserted nor repaired, and rows an older keyline
// still inserts afterwards (no batch) are counted without a marker.
func TestMigrateToBatchMarkersKeepsRowsAndStaysExact(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := clickhouse.MigrateTo(db, ctx, 5); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 6, 30, 23, 30, 0, 0, time.UTC)
	old := concat(verifications("old", 50, start), decisions("old_rl", 10, start))
	insertOld(t, db, old)
	oldVer, oldRL := want(old)
	before := rollupContents(t, db, "")
	if got := lines(t, db, rawVerifications); got != oldVer {
		t.Fatalf("raw verifications at step 5\n got %s\nwant %s", got, oldVer)
	}

	// A first attempt at step 6 that stopped after two of its ALTERs.
	exec(t, db, "ALTER TABLE key_verifications_raw_v1 ADD COLUMN batch_id String DEFAULT ''",
		"ALTER TABLE key_verifications_per_hour_v1 ADD COLUMN batch_marker String, "+
			"MODIFY ORDER BY (workspace_id, key_space_id, time, key_id, identity_id, external_id, outcome, batch_marker)")
	if n, err := db.Migrate(ctx); err != nil || n != 1 {
		t.Fatalf("migrate to 6: applied %d, %v", n, err)
	}
	if n, err := db.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("migrate again: applied %d, %v", n, err)
	}
	expectExact(t, db, oldVer, oldRL)
	if after := rollupContents(t, db, notMarkers); after != before {
		t.Fatalf("step 6 changed the rollups:\n%s\nthen\n%s", before, after)
	}
	for _, g := range grains {
		for _, table := range []string{"key_verifications_per_" + g + "_v1", "ratelimits_per_" + g + "_v1"} {
			key := lines(t, db, "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = '"+table+"'")
			if !strings.HasSuffix(key, ", batch_marker") {
				t.Errorf("%s sorts by %q", table, key)
			}
		}
	}

	fresh := concat(verifications("new", 30, start.Add(20*time.Minute)), decisions("new_rl", 8, start))
	if n, err := db.WriteAnalytics(ctx, fresh[:20], false); err != nil || n != 20 {
		t.Fatalf("fresh write: %d, %v", n, err)
	}
	if n, err := db.WriteAnalytics(ctx, concat(old, fresh), true); err != nil || n != len(fresh)-20 {
		t.Fatalf("suspect write over old and new records: wrote %d, want %d, err %v", n, len(fresh)-20, err)
	}
	straggler := verifications("straggler", 6, start.Add(time.Hour))
	insertOld(t, db, straggler)
	wantVer, wantRL := want(old, fresh, straggler)
	expectExact(t, db, wantVer, wantRL)
}
