package sqlstore_test

import (
	"context"
	"database/sql"
	"math"
	"reflect"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// copyRows is a table's rows for sqlstore.CopyQuery.
type copyRows struct {
	table string
	cols  []string
	rows  [][]any
	at    int
}

func (c *copyRows) CopyTable() string      { return c.table }
func (c *copyRows) CopyColumns() []string  { return c.cols }
func (c *copyRows) Next() bool             { c.at++; return c.at < len(c.rows) }
func (c *copyRows) Values() ([]any, error) { return c.rows[c.at], nil }
func (c *copyRows) Err() error             { return nil }

// A CopyQuery Exec sends its rows with COPY inside the transaction it runs
// in: every value arrives as it was bound (NULLs, the extremes of the
// integer columns, text a literal INSERT would have to escape), a rollback
// takes them back, and a DSN that names its own query mode copies the
// same way.
func TestCopyRowsTravelInTheTransaction(t *testing.T) {
	base := testenv.FreshPostgresDatabase(t)
	for name, dsn := range map[string]string{"default mode": base, "simple protocol": base + "&default_query_exec_mode=simple_protocol"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			sqldb := db.Primary.DB
			if _, err := sqldb.ExecContext(ctx, `DROP TABLE IF EXISTS copied;
				CREATE TABLE copied (id text PRIMARY KEY, n bigint, small integer NOT NULL, ok boolean NOT NULL, meta text)`); err != nil {
				t.Fatal(err)
			}
			want := [][]any{
				{"a", int64(math.MaxInt64), int64(math.MaxInt32), true, `{"quote":"'","backslash":"\\","line":"\n"}`},
				{"b", int64(math.MinInt64), int64(math.MinInt32), false, nil},
				{"ünï €", nil, int64(0), true, ""},
			}
			copyIn := func(tx *sql.Tx) {
				t.Helper()
				res, err := tx.ExecContext(ctx, sqlstore.CopyQuery, &copyRows{table: "copied",
					cols: []string{"id", "n", "small", "ok", "meta"}, rows: want, at: -1})
				if err != nil {
					t.Fatal(err)
				}
				if n, err := res.RowsAffected(); err != nil || n != int64(len(want)) {
					t.Fatalf("COPY reports %d rows (%v), want %d", n, err, len(want))
				}
			}
			read := func() [][]any {
				t.Helper()
				rows, err := sqldb.QueryContext(ctx, "SELECT id, n, small, ok, meta FROM copied ORDER BY id")
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var got [][]any
				for rows.Next() {
					var (
						id, meta sql.NullString
						n, small sql.NullInt64
						ok       bool
					)
					if err := rows.Scan(&id, &n, &small, &ok, &meta); err != nil {
						t.Fatal(err)
					}
					row := []any{id.String, nil, small.Int64, ok, nil}
					if n.Valid {
						row[1] = n.Int64
					}
					if meta.Valid {
						row[4] = meta.String
					}
					got = append(got, row)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return got
			}

			tx, err := sqldb.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			copyIn(tx)
			var inTx int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM copied").Scan(&inTx); err != nil || inTx != len(want) {
				t.Fatalf("the transaction sees %d rows (%v), want %d", inTx, err, len(want))
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if got := read(); len(got) != 0 {
				t.Fatalf("after the rollback the table holds %v, want nothing", got)
			}

			tx, err = sqldb.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			copyIn(tx)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := read(); !reflect.DeepEqual(got, want) {
				t.Fatalf("copied rows:\n got %v\nwant %v", got, want)
			}

			// A row the table refuses fails the COPY and leaves the
			// transaction to roll back, with nothing of it stored.
			tx, err = sqldb.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, sqlstore.CopyQuery, &copyRows{table: "copied",
				cols: []string{"id", "n", "small", "ok", "meta"}, rows: [][]any{{"c", nil, int64(1), true, nil}, want[0]}, at: -1}); err == nil {
				t.Fatal("a COPY repeating a primary key succeeded")
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if got := read(); len(got) != len(want) {
				t.Fatalf("after the refused COPY the table holds %d rows, want %d", len(got), len(want))
			}
		})
	}
}
