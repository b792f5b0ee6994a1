package clickhouse_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/testenv"
)

func failureOf(err error) string {
	var qe *clickhouse.QueryError
	if errors.As(err, &qe) {
		return qe.AnalyticsFailure()
	}
	return ""
}

func TestQuerierRowsAndFailures(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var batch []events.AnalyticsEvent
	for i, outcome := range []string{"VALID", "VALID", "RATE_LIMITED"} {
		batch = append(batch, verification("aev_q"+string(rune('a'+i)), "key_q", outcome, now))
	}
	if _, err := db.WriteAnalytics(ctx, batch, false); err != nil {
		t.Fatal(err)
	}
	q := clickhouse.NewQuerier(db)
	rows, err := q.Query(ctx, "SELECT outcome, count() AS n, 0/0 AS nan, 1/0 AS inf, tags, toDate('2025-03-01') AS d "+
		"FROM key_verifications_raw_v1 GROUP BY outcome, tags ORDER BY outcome, tags", 100)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rows)
	want := `[{"d":"2025-03-01T00:00:00Z","inf":null,"n":1,"nan":null,"outcome":"RATE_LIMITED","tags":["t:aev_qc"]},` +
		`{"d":"2025-03-01T00:00:00Z","inf":null,"n":1,"nan":null,"outcome":"VALID","tags":["t:aev_qa"]},` +
		`{"d":"2025-03-01T00:00:00Z","inf":null,"n":1,"nan":null,"outcome":"VALID","tags":["t:aev_qb"]}]`
	if string(got) != want {
		t.Fatalf("rows\n got %s\nwant %s", got, want)
	}

	if _, err := q.Query(ctx, "SELECT no_such_column FROM key_verifications_raw_v1", 100); failureOf(err) != clickhouse.FailureInvalid {
		t.Fatalf("unknown column: %v", err)
	}
	if _, err := q.Query(ctx, "SELECT * FROM key_verifications_raw_v1", 2); failureOf(err) != clickhouse.FailureRows {
		t.Fatalf("3 rows with max 2: %v", err)
	}
	small := clickhouse.NewQuerierWithLimits(db, clickhouse.QueryLimits{MaxExecutionTime: time.Second, MaxMemoryUsage: 1 << 30, MaxRowsToRead: 1})
	if _, err := small.Query(ctx, "SELECT count() FROM key_verifications_raw_v1 WHERE outcome != ''", 100); failureOf(err) != clickhouse.FailureRows {
		t.Fatalf("reading 3 rows with max_rows_to_read 1: %v", err)
	}
	tiny := clickhouse.NewQuerierWithLimits(db, clickhouse.QueryLimits{MaxExecutionTime: time.Second, MaxMemoryUsage: 1 << 20, MaxRowsToRead: 1e9})
	if _, err := tiny.Query(ctx, "SELECT groupArray(tags) FROM key_verifications_raw_v1 WHERE outcome != ''"+
		" OR arrayJoin(range(1000000)) > 0", 100); failureOf(err) != clickhouse.FailureMemory {
		t.Fatalf("1 MB of memory: %v", err)
	}
	// The limits cannot be lifted from inside the query: readonly = 2 keeps
	// the settings keyline sent... and refuses writes.
	if _, err := q.Query(ctx, "INSERT INTO key_verifications_raw_v1 (event_id) SELECT 'x' FROM key_verifications_raw_v1", 100); err == nil {
		t.Fatal("an INSERT ran through the analytics querier")
	}

	var nilQuerier *clickhouse.Querier
	if nilQuerier.Configured() || clickhouse.NewQuerier(nil) != nil {
		t.Fatal("a querier without ClickHouse claims to be configured")
	}
}

func TestQuerierConnectionFailure(t *testing.T) {
	conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:" + itoa(testenv.FreePort(t))}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := clickhouse.NewQuerier(&clickhouse.DB{Conn: conn})
	if _, err := q.Query(context.Background(), "SELECT 1", 10); failureOf(err) != clickhouse.FailureConnection {
		t.Fatalf("closed port: %v", err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
