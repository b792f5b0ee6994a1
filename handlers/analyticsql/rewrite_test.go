package analyticsql

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 20, 15, 4, 5, 0, time.UTC)

var testLimits = Limits{MaxLength: 2000, MaxRows: 100, RetentionDays: 30}

func rewrite(q string) (string, error) {
	return Rewrite(q, VerificationTables, Scope{WorkspaceID: "ws_a"}, testLimits, testNow)
}

const rawSource = "(SELECT `request_id`, `time`, `workspace_id`, `key_space_id`, `identity_id`, `external_id`, `key_id`, " +
	"`region`, `outcome`, `tags`, `spent_credits`, `latency` FROM `key_verifications_raw_v1` WHERE `workspace_id` = 'ws_a' " +
	"AND `time` >= 1771372800000)"

func TestRewriteGolden(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT count(*) FROM key_verifications_v1",
			"SELECT count(*) FROM " + rawSource + " AS `key_verifications_v1` LIMIT 100"},
		{"select OUTCOME, Count() as n from `key_verifications_v1` k where k.outcome != 'VALID' and not key_id like 'x%' group by outcome order by n desc limit 5",
			"SELECT `OUTCOME`, count() AS `n` FROM " + rawSource + " AS `k` WHERE ((`k`.`outcome` != 'VALID') AND (NOT (`key_id` LIKE 'x%'))) GROUP BY `outcome` ORDER BY `n` DESC LIMIT 5"},
		{"SELECT quantile(0.99)(latency), arrayJoin(tags) AS tag FROM key_verifications_v1 WHERE time BETWEEN 1 + 1772000000000 AND now() GROUP BY tag LIMIT 10, 1000000",
			"SELECT quantile(0.99)(`latency`), arrayJoin(`tags`) AS `tag` FROM " + rawSource + " AS `key_verifications_v1` WHERE ((`time` >= (1 + 1772000000000)) AND (`time` <= now())) GROUP BY `tag` LIMIT 10, 100"},
		{"SELECT 'it''s \\' -- no comment', x IN (1, 2), y NOT IN (SELECT key_id FROM key_verifications_v1) FROM key_verifications_v1 /* c */ -- trailing\n;",
			"SELECT 'it\\'s \\' -- no comment', (`x` IN (1, 2)), (`y` NOT IN (SELECT `key_id` FROM " + rawSource + " AS `key_verifications_v1`)) FROM " + rawSource + " AS `key_verifications_v1` LIMIT 100"},
		{"SELECT sum(count) FROM key_verifications_per_day_v1 WHERE time >= today() - INTERVAL 7 DAY UNION ALL SELECT 1 FROM (SELECT * FROM key_verifications_per_month_v1) LIMIT 3",
			"SELECT sum(`count`) FROM (SELECT `time`, `workspace_id`, `key_space_id`, `identity_id`, `external_id`, `key_id`, `outcome`, `count`, `spent_credits`, `latency_sum` FROM `key_verifications_per_day_v1` WHERE `workspace_id` = 'ws_a' AND `time` >= toDate('2026-02-18')) AS `key_verifications_per_day_v1` WHERE (`time` >= (today() - INTERVAL 7 DAY)) LIMIT 100" +
				" UNION ALL SELECT 1 FROM (SELECT * FROM (SELECT `time`, `workspace_id`, `key_space_id`, `identity_id`, `external_id`, `key_id`, `outcome`, `count`, `spent_credits`, `latency_sum` FROM `key_verifications_per_month_v1` WHERE `workspace_id` = 'ws_a' AND `time` >= toDate('2026-02-01')) AS `key_verifications_per_month_v1`) LIMIT 3"},
		{"SELECT a || b, c ILIKE 'x', d IS NOT NULL, -e, [1, 2], `we``ird\\`` FROM key_verifications_v1",
			"SELECT concat(`a`, `b`), (lower(`c`) LIKE lower('x')), isNotNull(`d`), (-`e`), [1, 2], `we\\`ird\\`` FROM " + rawSource + " AS `key_verifications_v1` LIMIT 100"},
	} {
		got, err := rewrite(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestRewriteScope(t *testing.T) {
	got, err := Rewrite("SELECT * FROM key_verifications_per_hour_v1", VerificationTables,
		Scope{WorkspaceID: "ws_'x", Restricted: true, Resources: []string{"ks_1", "ks_2"}}, testLimits, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "WHERE `workspace_id` = 'ws_\\'x' AND `key_space_id` IN ('ks_1', 'ks_2') AND `time` >= toDateTime(1771372800))") {
		t.Fatalf("scope filter missing: %s", got)
	}
	got, err = Rewrite("SELECT * FROM ratelimits_v1", RatelimitTables, Scope{WorkspaceID: "ws", Restricted: true}, testLimits, testNow)
	if err != nil || !strings.Contains(got, "WHERE `workspace_id` = 'ws' AND 0 AND") {
		t.Fatalf("an empty resource list must match nothing: %s %v", got, err)
	}
}

func TestRewriteRejects(t *testing.T) {
	long := "SELECT count() FROM key_verifications_v1 WHERE key_id = '" + strings.Repeat("x", 2000) + "'"
	for _, tt := range []struct {
		in   string
		kind Kind
		msg  string
	}{
		{"", KindSyntax, "empty"},
		{"INSERT INTO key_verifications_v1 VALUES (1)", KindQueryType, "Only SELECT"},
		{"drop table key_verifications_raw_v1", KindQueryType, "DROP"},
		{"SHOW TABLES", KindQueryType, "SHOW"},
		{"42", KindQueryType, "Only SELECT"},
		{"SELECT * FROM system.tables", KindTable, "system.tables"},
		{"SELECT * FROM default.key_verifications_raw_v1", KindTable, "default.key_verifications_raw_v1"},
		{"SELECT * FROM key_verifications_raw_v1", KindTable, "key_verifications_raw_v1"},
		{"SELECT * FROM ratelimits_v1", KindTable, "ratelimits_v1"},
		{"SELECT * FROM url('http://x', CSV, 'a String')", KindTable, "Table functions"},
		{"SELECT 1", KindTable, "FROM"},
		{"SELECT version() FROM key_verifications_v1", KindFunction, "version"},
		{"SELECT file('/etc/passwd') FROM key_verifications_v1", KindFunction, "file"},
		{"SELECT * FROM key_verifications_v1 SETTINGS max_memory_usage = 0", KindSyntax, "SETTINGS"},
		{"SELECT * FROM key_verifications_v1 FORMAT CSV", KindSyntax, "FORMAT"},
		{"SELECT * FROM key_verifications_v1 INTO OUTFILE '/tmp/x'", KindSyntax, "INTO"},
		{"SELECT * FROM key_verifications_v1; SELECT 1", KindSyntax, "one statement"},
		{"SELECT * FROM key_verifications_v1 UNION SELECT * FROM key_verifications_v1", KindSyntax, "UNION ALL"},
		{"SELECT * FROM key_verifications_v1 JOIN key_verifications_v1 USING key_id", KindSyntax, "joins"},
		{"SELECT * FROM key_verifications_v1, key_verifications_v1", KindSyntax, "joins"},
		{"SELECT * FROM key_verifications_v1 WHERE key_id IN key_verifications_raw_v1", KindSyntax, "expected '('"},
		{"SELECT * FROM key_verifications_v1 WHERE key_id = 'x", KindSyntax, "unterminated"},
		{"SELECT * FROM key_verifications_v1 /* open", KindSyntax, "unterminated"},
		{"WITH 1 AS x SELECT x FROM key_verifications_v1", KindSyntax, "WITH"},
		{"SELECT * FROM key_verifications_v1 WHERE time > 1000", KindRetention, "30 days"},
		{"SELECT * FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 31 DAY) * 1000", KindRetention, "30 days"},
		{"SELECT * FROM key_verifications_per_day_v1 WHERE outcome = 'VALID' AND time >= '2026-01-01'", KindRetention, "30 days"},
		{"SELECT * FROM key_verifications_per_hour_v1 AS h WHERE h.time BETWEEN now() - INTERVAL 2 MONTH AND now()", KindRetention, "30 days"},
		{"SELECT * FROM (SELECT * FROM key_verifications_v1 WHERE time = 5)", KindRetention, "30 days"},
		{long, KindLength, "maximum length"},
		{"SELECT " + strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100) + " FROM key_verifications_v1", KindSyntax, "nested"},
	} {
		_, err := rewrite(tt.in)
		var e *Error
		if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("%q: error %v, want kind %d containing %q", tt.in, err, tt.kind, tt.msg)
		}
	}
}

func TestRetentionAllowsTheRetentionItself(t *testing.T) {
	for _, q := range []string{
		"SELECT * FROM key_verifications_v1 WHERE time >= toUnixTimestamp(now() - INTERVAL 30 DAY) * 1000",
		"SELECT * FROM key_verifications_per_day_v1 WHERE time >= today() - INTERVAL 30 DAY",
		"SELECT * FROM key_verifications_per_month_v1 WHERE time >= toStartOfMonth(now() - INTERVAL 30 DAY)",
		"SELECT * FROM key_verifications_v1 WHERE time >= key_id", // not a constant: the source cuts anyway
	} {
		if _, err := rewrite(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// The physical tables carry bookkeeping columns no caller may read: event_id
// (deduplication), batch_id and the rollups' batch_marker (crash repair;
// marker rows have an empty workspace_id and time 0, so the source filter drops
// them too).
func TestPrivateColumnsStayPrivate(t *testing.T) {
	for _, set := range []map[string]*Table{VerificationTables, RatelimitTables} {
		for _, table := range set {
			for _, c := range table.Columns {
				if c == "event_id" || c == "batch_id" || c == "batch_marker" {
					t.Errorf("%s exposes %s", table.Name, c)
				}
			}
		}
	}
	got, err := rewrite("SELECT * FROM key_verifications_per_minute_v1")
	if err != nil || strings.Contains(got, "batch") || !strings.Contains(got, "WHERE `workspace_id` = 'ws_a'") {
		t.Fatalf("%s %v", got, err)
	}
}

// Bounds at the ends of float64 and int64 stay on their side of the
// retention: before, a float beyond int64 converted to an unspecified
// integer and interval arithmetic wrapped, flipping past and future.
func TestRetentionOfHugeBounds(t *testing.T) {
	const v1 = "SELECT * FROM key_verifications_v1 WHERE time >= "
	for _, tt := range []struct {
		q       string
		refused bool
	}{
		{v1 + "1e300", false},
		{v1 + "-1e300", true},
		{"SELECT * FROM key_verifications_per_hour_v1 WHERE time >= 1e300", false},
		{v1 + "toUnixTimestamp(now() - INTERVAL 9223372036854775807 SECOND) * 1000", true},
		{v1 + "toUnixTimestamp(now() + INTERVAL 9223372036854775807 SECOND) * 1000", false},
		{v1 + "toUnixTimestamp(now() - INTERVAL 1e300 DAY) * 1000", true},
		{v1 + "toUnixTimestamp(now() + INTERVAL 1e300 YEAR) * 1000", false},
		{v1 + "toUnixTimestamp(now() - INTERVAL 9223372036854775807 QUARTER) * 1000", true},
	} {
		_, err := rewrite(tt.q)
		var e *Error
		if refused := errors.As(err, &e) && e.Kind == KindRetention; refused != tt.refused || (err != nil && !refused) {
			t.Errorf("%s: error %v, want refused for retention = %v", tt.q, err, tt.refused)
		}
	}
}
