package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// On PostgreSQL a query without arguments (every query bun sends) runs on
// the unnamed statement, leaving no prepared statement behind on the
// server, while a query with arguments keeps pgx's prepared and cached
// statement; a DSN naming a mode keeps that mode for both.
func TestQueriesWithoutArgumentsPrepareNothing(t *testing.T) {
	base := testenv.FreshPostgresDatabase(t)
	for _, tc := range []struct {
		name, dsn          string
		prepared, withArgs int
	}{
		{"default", base, 0, 1},
		{"simple protocol named", base + "&default_query_exec_mode=simple_protocol", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: tc.dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			// database/sql's own connection: bun would write the argument
			// into the text and send none.
			conn, err := db.Primary.DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			prepared := func() int {
				t.Helper()
				var n int
				if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_prepared_statements").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			start := prepared()
			for _, q := range []string{"SELECT 1 AS one", "SELECT 'two' AS two", "SELECT 3 AS three"} {
				rows, err := conn.QueryContext(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				rows.Close()
			}
			if got := prepared() - start; got != tc.prepared {
				t.Fatalf("after 3 queries without arguments: %d new prepared statements, want %d", got, tc.prepared)
			}
			var v int
			if err := conn.QueryRowContext(ctx, "SELECT $1::int + 1", 41).Scan(&v); err != nil || v != 42 {
				t.Fatalf("query with an argument: %d, %v; want 42", v, err)
			}
			if got := prepared() - start; got != tc.withArgs {
				t.Fatalf("after a query with an argument: %d new prepared statements, want %d", got, tc.withArgs)
			}
		})
	}
}

// In a transaction begun with DeferWrites, statements without arguments
// are held back and sent with the next query or the COMMIT: a query sees
// the writes before it, a refused write fails the COMMIT with a
// DeferredError carrying the server's error, nothing of that transaction
// stays, and the connection goes on serving.
func TestDeferredWritesTravelWithTheCommit(t *testing.T) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: testenv.FreshPostgresDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	sqldb := db.Primary.DB
	sqldb.SetMaxOpenConns(1) // one connection: each step reuses the one before
	if _, err := sqldb.ExecContext(ctx, "CREATE TABLE deferred_t (v int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	deferred := sqlstore.DeferWrites(ctx)
	count := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		t.Helper()
		var n int
		if err := q.QueryRowContext(deferred, "SELECT COUNT(*) FROM deferred_t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Held writes are seen by a later query of the same transaction and
	// commit with it.
	tx, err := sqldb.BeginTx(deferred, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.ExecContext(deferred, "INSERT INTO deferred_t VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.RowsAffected(); err == nil {
		t.Fatal("a held statement's rows affected must be unknown")
	}
	if n := count(tx); n != 1 {
		t.Fatalf("the transaction's query sees %d rows, want 1", n)
	}
	if _, err := tx.ExecContext(deferred, "INSERT INTO deferred_t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(sqldb); n != 2 {
		t.Fatalf("after commit: %d rows, want 2", n)
	}

	// A refused write is reported by the COMMIT, and nothing stays.
	tx, err = sqldb.BeginTx(deferred, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO deferred_t VALUES (3)", "INSERT INTO deferred_t VALUES (1)", "INSERT INTO deferred_t VALUES (4)"} {
		if _, err := tx.ExecContext(deferred, q); err != nil {
			t.Fatalf("%s: %v (it should have been held back)", q, err)
		}
	}
	err = tx.Commit()
	var de *sqlstore.DeferredError
	var pe *pgconn.PgError
	if !errors.As(err, &de) || !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("commit: %v, want a DeferredError with the unique violation", err)
	}
	if n := count(sqldb); n != 2 {
		t.Fatalf("after the refused commit: %d rows, want 2", n)
	}

	// A transaction that held everything and rolls back sends nothing;
	// one that sent something is rolled back on the server.
	for _, withQuery := range []bool{false, true} {
		tx, err = sqldb.BeginTx(deferred, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(deferred, "INSERT INTO deferred_t VALUES (5)"); err != nil {
			t.Fatal(err)
		}
		if withQuery && count(tx) != 3 {
			t.Fatal("the transaction's query does not see its held write")
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(sqldb); n != 2 {
			t.Fatalf("after rollback (query sent: %v): %d rows, want 2", withQuery, n)
		}
	}

	// Without DeferWrites a statement fails where it is run.
	tx, err = sqldb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO deferred_t VALUES (1)"); !errors.As(err, &pe) || errors.As(err, &de) {
		t.Fatalf("undeferred insert: %v, want the unique violation at once", err)
	}
	_ = tx.Rollback()
	if n := count(sqldb); n != 2 {
		t.Fatalf("at the end: %d rows, want 2", n)
	}
}

// A query sent together with held statements gives database/sql the very
// values pgx's own rows give, type by type, NULLs and no rows included.
func TestQueryAfterHeldStatementsConvertsAsPgx(t *testing.T) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: testenv.FreshPostgresDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	const query = `SELECT true AS b, 2::int2 AS i2, 4::int4 AS i4, 8000000000::int8 AS i8, 1.5::float4 AS f4,
		2.25::float8 AS f8, 'tëxt''s'::text AS t, 'v'::varchar(3) AS v, '\x00ff'::bytea AS by, '{"a": 1}'::json AS j,
		'{"a": 1}'::jsonb AS jb, '2026-12-02 13:00:00.123456+00'::timestamptz AS tz, '2026-12-02 13:00:00'::timestamp AS ts,
		'2026-12-02'::date AS d, 12.345::numeric AS n, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, NULL::int8 AS nul,
		7::oid AS o
		UNION ALL SELECT false, -2, -4, -8, -1.5, -2.25, '', '', '', 'null', 'null', '1970-01-01 00:00:00+00', '1970-01-01',
		'1970-01-01', 0, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 1, 0`
	read := func(ctx context.Context, q string) ([]string, [][]any) {
		t.Helper()
		tx, err := db.Primary.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil { // held when deferred
			t.Fatal(err)
		}
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return cols, out
	}
	for _, q := range []string{query, query + " LIMIT 0"} {
		wantCols, want := read(ctx, q)
		gotCols, got := read(sqlstore.DeferWrites(ctx), q)
		if len(want) == 0 && q == query {
			t.Fatal("no rows read")
		}
		if !reflect.DeepEqual(wantCols, gotCols) {
			t.Fatalf("columns %v, want %v", gotCols, wantCols)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("query after held statements gave\n%#v\nwant (pgx's rows)\n%#v", got, want)
		}
	}
}
