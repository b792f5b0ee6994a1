package analyticsql

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func rewriteLocal(q string, d Dialect) (string, error) {
	return RewriteLocal(q, VerificationTables, Scope{WorkspaceID: "ws_'a"}, testLimits, testNow, d, time.Time{})
}

// The source of a raw table is the caller's rows of the count table, with
// the weight; count() sums it. Literals, names and the workspace are
// re-quoted for SQL, so a quote in them cannot end the string.
func TestRewriteLocalGolden(t *testing.T) {
	got, err := rewriteLocal("SELECT outcome, count() AS n FROM key_verifications_v1 WHERE key_id = 'it''s' GROUP BY outcome ORDER BY n DESC", SQLite)
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT "outcome" AS "outcome", COALESCE(SUM("__kl_n"), 0) AS "n" FROM (SELECT "time", "workspace_id", "key_space_id", ` +
		`"identity_id", "external_id", "key_id", "region", "outcome", "tags", "spent_credits", "records" AS "__kl_n" ` +
		`FROM "key_verifications_local_v1" WHERE "key_verifications_local_v1"."workspace_id" = 'ws_''a' AND ` +
		`"key_verifications_local_v1"."time" >= 1771372800000) AS "key_verifications_v1" WHERE ("key_id" = 'it''s') ` +
		`GROUP BY "outcome" ORDER BY COALESCE(SUM("__kl_n"), 0) DESC LIMIT 100`
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	got, err = rewriteLocal("SELECT time AS day, sum(count) AS n FROM key_verifications_per_day_v1 WHERE time >= today() - INTERVAL 7 DAY GROUP BY day", Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{
		`to_char(to_timestamp("time" / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T00:00:00Z"') AS "time"`,
		`CAST(SUM("records") AS BIGINT) AS "count"`,
		`GROUP BY 1, 2, 3, 4, 5, 6, 7)`,
		`WHERE ("time" COLLATE "C" >= '2026-03-13T00:00:00Z')`, // the constant bound, computed by keyline
		`CAST(COALESCE(SUM("count"), 0) AS BIGINT) AS "n"`,
	} {
		if !strings.Contains(got, part) {
			t.Errorf("missing %s in\n%s", part, got)
		}
	}
}

func TestRewriteLocalScope(t *testing.T) {
	got, err := RewriteLocal("SELECT count() AS n FROM ratelimits_per_hour_v1", RatelimitTables,
		Scope{WorkspaceID: "ws", Restricted: true}, testLimits, testNow, Postgres, time.Time{})
	if err != nil || !strings.Contains(got, `"workspace_id" = 'ws' AND 1 = 0 AND`) {
		t.Fatalf("an empty resource list must match nothing: %s %v", got, err)
	}
	got, err = RewriteLocal("SELECT count() AS n FROM key_verifications_v1", VerificationTables,
		Scope{WorkspaceID: "ws", Restricted: true, Resources: []string{"ks_1", "ks_'2"}}, testLimits, testNow, SQLite, time.Time{})
	if err != nil || !strings.Contains(got, `"key_verifications_local_v1"."key_space_id" IN ('ks_1', 'ks_''2')`) {
		t.Fatalf("%s %v", got, err)
	}
}

// A store that dropped rows past its bound starts at the first whole bucket
// after them, and refuses an explicit range reaching before.
func TestRewriteLocalCompleteSince(t *testing.T) {
	complete := testNow.Add(-36*time.Hour - 30*time.Minute)
	got, err := RewriteLocal("SELECT sum(count) AS n FROM key_verifications_per_day_v1", VerificationTables, Scope{WorkspaceID: "ws"},
		testLimits, testNow, SQLite, complete)
	if want := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC).UnixMilli(); err != nil || !strings.Contains(got, `"time" >= `+itoa(want)) {
		t.Fatalf("%s %v", got, err)
	}
	_, err = RewriteLocal("SELECT count() AS n FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 7 DAY) * 1000",
		VerificationTables, Scope{WorkspaceID: "ws"}, testLimits, testNow, SQLite, complete)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRetention {
		t.Fatalf("want a retention error, got %v", err)
	}
}

func itoa(n int64) string { return formatInt(n) }

func formatInt(n int64) string {
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Everything the ClickHouse path refuses while parsing is refused the same
// way locally; what the local store cannot answer exactly is
// KindUnsupported, naming it.
func TestRewriteLocalRejects(t *testing.T) {
	for _, tt := range []struct {
		in   string
		kind Kind
		msg  string
	}{
		{"SELECT * FROM system.tables", KindTable, "system.tables"},
		{"SELECT version() FROM key_verifications_v1", KindFunction, "version"},
		{"DROP TABLE key_verifications_v1", KindQueryType, "DROP"},
		{"SELECT * FROM key_verifications_v1 WHERE time > 1000", KindRetention, "30 days"},
		{"SELECT key_id FROM key_verifications_v1", KindUnsupported, "aggregate"},
		{"SELECT request_id, count() FROM key_verifications_v1 GROUP BY request_id", KindUnsupported, "request_id"},
		{"SELECT quantile(0.5)(spent_credits) AS q FROM key_verifications_v1", KindUnsupported, "quantile"},
		{"SELECT key_id, outcome, count() AS n FROM key_verifications_v1 GROUP BY key_id", KindUnsupported, "outcome is neither"},
		{"SELECT __kl_n FROM key_verifications_per_day_v1", KindSyntax, "__kl_n"},
		{"SELECT count() AS __kl_x FROM key_verifications_v1", KindSyntax, "__kl_x"},
		{"SELECT count() FROM key_verifications_v1 WHERE time >= now()", KindUnsupported, "comparing"},
		{"SELECT count() FROM key_verifications_v1 WHERE key_id = '\x00'", KindUnsupported, "NUL"},
		{"SELECT key_id IN (1, 2) FROM key_verifications_per_day_v1", KindUnsupported, "AS"},
		{"SELECT nope, count() AS n FROM key_verifications_v1 GROUP BY nope", KindSyntax, "nope"},
		{"SELECT KEY_ID AS k FROM key_verifications_per_day_v1", KindSyntax, "KEY_ID"},
		{"SELECT x.key_id AS k FROM key_verifications_per_day_v1 AS y", KindSyntax, "x"},
		{"SELECT count() AS n FROM key_verifications_v1 WHERE count() > 1", KindUnsupported, "aggregates belong"},
		{"SELECT sum(count(key_id)) AS n FROM key_verifications_per_day_v1", KindUnsupported, "nest"},
		{"SELECT arrayJoin(tags) AS t FROM key_verifications_per_day_v1", KindUnsupported, "arrayJoin"},
	} {
		for _, d := range []Dialect{SQLite, Postgres} {
			_, err := rewriteLocal(tt.in, d)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("%q (%d): error %v, want kind %d containing %q", tt.in, d, err, tt.kind, tt.msg)
			}
		}
	}
}

// Unnamed items get ClickHouse's column names, so both answers have the
// same keys.
func TestColumnNames(t *testing.T) {
	got, err := rewriteLocal("SELECT count(*), countIf(outcome = 'VALID' AND key_id != 'x'), -spent_credits, k.key_id FROM key_verifications_v1 AS k GROUP BY key_id, spent_credits", SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"count()"`, `"countIf(and(equals(outcome, 'VALID'), notEquals(key_id, 'x')))"`, `"negate(spent_credits)"`, `AS "key_id"`} {
		if !strings.Contains(got, name) {
			t.Errorf("missing %s in %s", name, got)
		}
	}
}

func TestLikeToGlob(t *testing.T) {
	for in, want := range map[string]string{"key_%": "key?*", `a\%b\_c`: "a%b_c", "x*y?[z]": "x[*]y[?][[]z]"} {
		if got := likeToGlob(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// An alias may shadow the column its own expression reads.
func TestRewriteLocalAliasShadowsColumn(t *testing.T) {
	got, err := RewriteLocal("SELECT identifier, sum(passed) AS passed, sum(total) AS total FROM ratelimits_per_minute_v1 GROUP BY identifier ORDER BY passed",
		RatelimitTables, Scope{WorkspaceID: "ws"}, testLimits, testNow, SQLite, time.Time{})
	if err != nil || !strings.Contains(got, `COALESCE(SUM("passed"), 0) AS "passed"`) || !strings.HasSuffix(got, `ORDER BY COALESCE(SUM("passed"), 0) ASC LIMIT 100`) {
		t.Fatalf("%s %v", got, err)
	}
}
