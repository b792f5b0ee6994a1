package sqlstore_test

import (
	"context"
	"testing"

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
