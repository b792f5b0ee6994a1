package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Batches and their markers (schema step 6).
//
// ClickHouse 18.16 writes an insert into the raw table first and then into
// each materialized view's target; a server killed in between keeps the raw
// part without (some of) the rollup parts. The writer's retry then finds the
// events in the raw table, skips them, and the rollups would stay short.
//
// So every insert is a batch with an ID (raw column batch_id), and every view
// emits, besides the batch's rollup rows, one marker row for the batch: all
// key columns empty (workspace_id '', time 0) and batch_marker = the batch's
// ID. The writer sends a batch as one block, and the view turns that block
// into one block per rollup, hence one part: the rollup tables have no
// PARTITION BY, and a batch's rollup rows are far fewer than the server's
// minimum insert block (about a million rows), so nothing splits them. Keep
// it that way: a batch sent in several blocks, a partitioned rollup, or
// batches that large would make "marker present" stop meaning "rows
// present". A retry that finds its
// events in the raw table looks for their batches' markers, table by table,
// and re-derives a missing table's rows from the raw table with the very
// SELECT the view runs (rollupFamily.selectFrom). Callers never see markers:
// every public source is confined to the caller's workspace and to times
// after the retention start (handlers/analyticsql).
//
// Markers count the whole batch (count, sums), not zero: SummingMergeTree
// deletes a row whose sums are all zero when it merges.

// rollupFamily is a raw table and the rollups its views feed.
type rollupFamily struct {
	raw    string
	prefix string // rollup table = prefix + rollup suffix + "_v1"
	// sortKey is the rollups' sort key before step 6; batch_marker follows it.
	sortKey []string
	// sums are the aggregates, each as (expression, column).
	sums [][2]string
	// reads are the raw columns the SELECT reads.
	reads []string
}

var (
	verificationFamily = rollupFamily{
		raw: "key_verifications_raw_v1", prefix: "key_verifications_per_",
		sortKey: []string{"workspace_id", "key_space_id", "time", "key_id", "identity_id", "external_id", "outcome"},
		sums:    [][2]string{{"count()", "count"}, {"sum(spent_credits)", "spent_credits"}, {"sum(latency)", "latency_sum"}},
		reads: []string{"time", "workspace_id", "key_space_id", "key_id", "identity_id", "external_id", "outcome",
			"spent_credits", "latency", "batch_id"},
	}
	ratelimitFamily = rollupFamily{
		raw: "ratelimits_raw_v1", prefix: "ratelimits_per_",
		sortKey: []string{"workspace_id", "namespace_id", "time", "identifier"},
		sums:    [][2]string{{"sum(passed)", "passed"}, {"count()", "total"}, {"sum(latency)", "latency_sum"}},
		reads:   []string{"time", "workspace_id", "namespace_id", "identifier", "passed", "latency", "batch_id"},
	}
	families = []rollupFamily{verificationFamily, ratelimitFamily}
)

func (f rollupFamily) table(r rollup) string { return f.prefix + r.suffix + "_v1" }

// keys are the grouping columns besides time.
func (f rollupFamily) keys() []string {
	var out []string
	for _, k := range f.sortKey {
		if k != "time" {
			out = append(out, k)
		}
	}
	return out
}

// columns lists the rollup columns in the order selectFrom returns them.
func (f rollupFamily) columns() []string {
	out := append([]string{"time"}, f.keys()...)
	out = append(out, "batch_marker")
	for _, s := range f.sums {
		out = append(out, s[1])
	}
	return out
}

// selectFrom is the rollup SELECT over from: the raw table in the view, the
// raw rows of the batches to repair in a repair. One definition for both,
// so a repaired batch is exactly what the view would have written. ARRAY
// JOIN doubles each row: m = 0 is the row itself, m = 1 its contribution to
// the batch's marker. Rows without a batch (inserted before step 6, or by an
// older keyline) get no marker.
func (f rollupFamily) selectFrom(r rollup, from string) string {
	cols := []string{"if(m = 1, " + r.zero() + ", " + r.bucket + ") AS time"}
	for _, k := range f.keys() {
		cols = append(cols, "if(m = 1, '', "+k+") AS "+k)
	}
	cols = append(cols, "if(m = 1, batch_id, '') AS batch_marker")
	for _, s := range f.sums {
		cols = append(cols, s[0]+" AS "+s[1])
	}
	group := append([]string{"time"}, f.keys()...)
	group = append(group, "batch_marker")
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + from +
		" ARRAY JOIN [0, 1] AS m WHERE m = 0 OR batch_id != '' GROUP BY " + strings.Join(group, ", ")
}

// viewDDL is the step-6 materialized view of one rollup.
func (f rollupFamily) viewDDL(r rollup) string {
	return "CREATE MATERIALIZED VIEW IF NOT EXISTS " + f.table(r) + "_mv TO " + f.table(r) + " AS " + f.selectFrom(r, f.raw)
}

func (r rollup) zero() string { return "to" + r.bucketType + "(0)" }

// addBatchMarkers is step 6. 18.16 has no ADD COLUMN IF NOT EXISTS, so each
// ALTER runs only when system.columns lacks its column, and a view is
// replaced only when it does not emit batch_marker yet: run again after an
// interruption, or by a second node, the step does only what is left.
//
// Between a view's DROP and its CREATE an insert into the raw table bypasses
// it; run this step with the projectors stopped (`keyline migrate` before
// starting the new version).
func addBatchMarkers(ctx context.Context, db *DB) error {
	for _, f := range families {
		if err := db.alterOnce(ctx, f.raw, "batch_id",
			"ALTER TABLE "+f.raw+" ADD COLUMN batch_id String DEFAULT ''"); err != nil {
			return err
		}
	}
	for _, f := range families {
		for _, r := range rollups {
			t := f.table(r)
			// 18.16 accepts a new sort-key column only without a default
			// expression, and only in the ALTER that adds it.
			if err := db.alterOnce(ctx, t, "batch_marker", "ALTER TABLE "+t+
				" ADD COLUMN batch_marker String, MODIFY ORDER BY ("+strings.Join(f.sortKey, ", ")+", batch_marker)"); err != nil {
				return err
			}
		}
	}
	for _, f := range families {
		for _, r := range rollups {
			view := f.table(r) + "_mv"
			done, err := db.hasColumn(ctx, view, "batch_marker")
			if err != nil {
				return err
			}
			if done {
				continue
			}
			if err := db.Conn.Exec(ctx, "DROP TABLE IF EXISTS "+view); err != nil {
				return err
			}
			if err := db.Conn.Exec(ctx, f.viewDDL(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (db *DB) alterOnce(ctx context.Context, table, column, alter string) error {
	done, err := db.hasColumn(ctx, table, column)
	if err != nil || done {
		return err
	}
	return db.Conn.Exec(ctx, alter)
}

func (db *DB) hasColumn(ctx context.Context, table, column string) (bool, error) {
	var n uint64
	if err := db.Conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = ? AND name = ?",
		table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	return n > 0, nil
}

// newBatchID returns a fresh batch ID for events whose times lie in
// [lo, hi]. The range leads the ID so that a repair reads only the raw
// partitions the batch can be in (batch_id is in no index).
func newBatchID(lo, hi int64) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (it crashes instead)
	return strconv.FormatInt(lo, 10) + "_" + strconv.FormatInt(hi, 10) + "_" + hex.EncodeToString(b[:])
}

// batchSpan is the union of the time ranges of ids; ok is false when one
// has no range (not written by newBatchID), so the repair must read it all.
func batchSpan(ids []string) (lo, hi int64, ok bool) {
	for i, id := range ids {
		parts := strings.SplitN(id, "_", 3)
		if len(parts) != 3 {
			return 0, 0, false
		}
		l, err1 := strconv.ParseInt(parts[0], 10, 64)
		h, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		if i == 0 {
			lo, hi = l, h
		}
		lo, hi = min(lo, l), max(hi, h)
	}
	return lo, hi, true
}

// repairRollups makes sure every rollup of f holds the rows of batches,
// which are in the raw table: a rollup without a batch's marker never got
// that batch's part, and gets it now from the raw table.
func (db *DB) repairRollups(ctx context.Context, f rollupFamily, batches []string) error {
	if len(batches) == 0 {
		return nil
	}
	// An insert the client gave up on may still be writing its view parts;
	// its markers are only final once it ended. The insert's query ID is
	// its batch ID.
	if err := db.awaitInserts(ctx, batches); err != nil {
		return err
	}
	for _, r := range rollups {
		present, err := db.markers(ctx, f, r, batches)
		if err != nil {
			return err
		}
		var missing []string
		for _, b := range batches {
			if !present[b] {
				missing = append(missing, b)
			}
		}
		if len(missing) == 0 {
			continue
		}
		where, args := "batch_id IN ?", []any{ch.GroupSet{Value: anys(missing)}}
		if lo, hi, ok := batchSpan(missing); ok {
			where, args = "time >= ? AND time <= ? AND "+where, append([]any{lo, hi}, args...)
		}
		from := "(SELECT " + strings.Join(f.reads, ", ") + " FROM " + f.raw + " FINAL WHERE " + where + ")"
		insert := "INSERT INTO " + f.table(r) + " (" + strings.Join(f.columns(), ", ") + ") " + f.selectFrom(r, from)
		if err := db.Conn.Exec(ctx, insert, args...); err != nil {
			return fmt.Errorf("clickhouse: re-deriving %s for %d batches: %w", f.table(r), len(missing), err)
		}
		if db.Logger != nil {
			db.Logger.Warn("rollup rows re-derived from the raw table after an interrupted insert",
				"table", f.table(r), "batches", missing)
		}
	}
	return nil
}

// markers returns which of batches have their marker row in f's rollup r.
// Marker rows sort first (empty keys, time 0), so the primary key finds them.
func (db *DB) markers(ctx context.Context, f rollupFamily, r rollup, batches []string) (map[string]bool, error) {
	cond := "time = " + r.zero()
	for _, k := range f.keys() {
		cond += " AND " + k + " = ''"
	}
	rows, err := db.Conn.Query(ctx, "SELECT DISTINCT batch_marker FROM "+f.table(r)+" WHERE "+cond+" AND batch_marker IN ?",
		ch.GroupSet{Value: anys(batches)})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading the markers of %s: %w", f.table(r), err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out[b] = true
	}
	return out, rows.Err()
}

// awaitInserts waits until no insert of batches is running on the server.
func (db *DB) awaitInserts(ctx context.Context, batches []string) error {
	deadline := time.Now().Add(awaitInsertsFor)
	for {
		var running uint64
		if err := db.Conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE query_id IN ?",
			ch.GroupSet{Value: anys(batches)}).Scan(&running); err != nil {
			return fmt.Errorf("clickhouse: looking for running inserts: %w", err)
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse: an earlier insert of these records is still running after %s", awaitInsertsFor)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitInsertsFor bounds awaitInserts; the caller's retry waits longer.
const awaitInsertsFor = 10 * time.Second

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
