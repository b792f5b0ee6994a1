package testenv

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Databases are named keyline_test_<created, unix seconds base 36>_<hex>, so
// that what a killed test binary (or a drop that timed out on a loaded
// machine) left behind can be told from what a running test still uses:
// every test process first drops the databases older than staleAfter on the
// server it uses. No test binary runs that long (make test's -timeout is
// well below it).
const staleAfter = 3 * time.Hour

// dropTimeout bounds a DROP DATABASE at cleanup. ClickHouse 18.16 drops a
// database only after its tables' background merges stop, which on a
// saturated two-core machine has taken over 30 s.
const dropTimeout = 3 * time.Minute

// databaseName is a fresh, timestamped name: only [a-z0-9_], so it needs no
// quoting and stays far below PostgreSQL's 63-byte limit.
func databaseName(now time.Time) string {
	return namePrefix + strconv.FormatInt(now.Unix(), 36) + "_" + randomHex(8)
}

// createdAt reads the creation time back from a name databaseName made; ok
// is false for any other name (older untimestamped leftovers are left for a
// person to drop: nothing tells whether a test still uses them).
func createdAt(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return time.Time{}, false
	}
	stamp, _, ok := strings.Cut(rest, "_")
	if !ok {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(stamp, 36, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// stale picks the names databaseName made more than staleAfter before now.
func stale(names []string, now time.Time) []string {
	var out []string
	for _, n := range names {
		if at, ok := createdAt(n); ok && now.Sub(at) > staleAfter {
			out = append(out, n)
		}
	}
	return out
}

// swept remembers the servers this process has swept already.
var swept sync.Map

// sweepOnce drops the stale test databases of one server, once per process
// and server. A sweep that fails only leaves them for the next run.
func sweepOnce(key string, list func(context.Context) ([]string, error), drop func(name string) error) {
	if _, done := swept.LoadOrStore(key, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	names, err := list(ctx)
	if err != nil {
		return
	}
	for _, n := range stale(names, time.Now()) {
		_ = drop(n)
	}
}

func sweepPostgres(base string) {
	sweepOnce("postgres "+base, func(ctx context.Context) ([]string, error) {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		return queryNames(ctx, db, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, namePrefix)
	}, func(name string) error {
		return pgAdminExec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
}

func sweepClickHouse(base string) {
	sweepOnce("clickhouse "+base, func(ctx context.Context) ([]string, error) {
		return clickHouseDatabases(ctx, base)
	}, func(name string) error {
		return chExec(base, "DROP DATABASE IF EXISTS "+name, dropTimeout)
	})
}

// clickHouseDatabases lists the test databases on the ClickHouse at base.
func clickHouseDatabases(ctx context.Context, base string) ([]string, error) {
	opts, err := clickhouse.ParseDSN(base)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT name FROM system.databases WHERE startsWith(name, ?)", namePrefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanNames(rows)
}

func queryNames(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanNames(rows)
}

// rowsOfNames is what database/sql's and clickhouse-go's rows share.
type rowsOfNames interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanNames reads a one-column result of names.
func scanNames(rows rowsOfNames) ([]string, error) {
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
