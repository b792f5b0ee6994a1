package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/keyline/keyline/configs"
)

// multiRow is an INSERT of several rows of width values each: prefix, then
// the rows' placeholders, then suffix (an ON CONFLICT clause, or nothing).
type multiRow struct {
	prefix, suffix string
	width          int
}

// rowChunks are the row counts of the multi-row statements a batch is cut
// into, largest first, each statement prepared once per connection. They
// stay small because modernc's driver looks every parameter up by a linear
// scan of the arguments, which is quadratic in a statement's size: at 256
// rows of three values that scan was a quarter of storing a record.
var rowChunks = [...]int{32, 8, 2, 1}

// stmtCache prepares the local store's statements once per connection.
// SQLite parses and plans every statement it is handed as text, and a
// statement of a few hundred rows was most of what storing a batch cost;
// Tx.StmtContext reuses the statement already prepared on the
// transaction's connection.
//
// Statements are prepared on the pool only by prepare, which the
// constructors call before any transaction: preparing on the pool from
// inside a transaction waits for a second connection, and on SQLite the
// other connections may all be waiting for the write lock that very
// transaction holds (a deadlock that only the busy timeout ends). A
// statement missing from the cache is prepared on the transaction's own
// connection for that one use.
type stmtCache struct {
	db   *sql.DB
	kind configs.DatabaseKind
	mu   sync.Mutex
	m    map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	query string
	rows  *multiRow
	n     int
}

func newStmtCache(db *sql.DB, kind configs.DatabaseKind) *stmtCache {
	return &stmtCache{db: db, kind: kind, m: map[stmtKey]*sql.Stmt{}}
}

// prepare puts queries and every chunk size of rows into the cache. It
// must not run inside a transaction of this database.
func (c *stmtCache) prepare(ctx context.Context, queries []string, rows ...*multiRow) error {
	var keys []stmtKey
	for _, q := range queries {
		keys = append(keys, stmtKey{query: q})
	}
	for _, m := range rows {
		for _, n := range rowChunks {
			keys = append(keys, stmtKey{rows: m, n: n})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if _, ok := c.m[k]; ok {
			continue
		}
		st, err := c.db.PrepareContext(ctx, c.sql(k))
		if err != nil {
			return fmt.Errorf("preparing %q: %w", c.sql(k), err)
		}
		c.m[k] = st
	}
	return nil
}

// stmt is k's statement on tx's connection.
func (c *stmtCache) stmt(ctx context.Context, tx *sql.Tx, k stmtKey) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, c.sql(k))
}

// sql is k's statement text in the driver's placeholders.
func (c *stmtCache) sql(k stmtKey) string {
	if k.rows != nil {
		return c.rowsSQL(k.rows, k.n)
	}
	if c.kind == configs.KindPostgres {
		return dollarPlaceholders(k.query)
	}
	return k.query
}

// rowsSQL is m's statement for n rows in the driver's placeholders.
func (c *stmtCache) rowsSQL(m *multiRow, n int) string {
	var b strings.Builder
	b.WriteString(m.prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range m.width {
			if j > 0 {
				b.WriteString(", ")
			}
			if c.kind == configs.KindPostgres {
				fmt.Fprintf(&b, "$%d", i*m.width+j+1)
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(m.suffix)
	return b.String()
}

// dollarPlaceholders numbers q's ? placeholders for PostgreSQL's driver;
// the statements here hold no ? in a literal.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// exec runs the statement query (with ? placeholders) in tx.
func (c *stmtCache) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := c.stmt(ctx, tx, stmtKey{query: query})
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// queryRow runs the one-row query in tx.
func (c *stmtCache) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Row, error) {
	st, err := c.stmt(ctx, tx, stmtKey{query: query})
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// execRows inserts the rows whose values args holds (m.width each, in
// order) with m's statements.
func (c *stmtCache) execRows(ctx context.Context, tx *sql.Tx, m *multiRow, args []any) error {
	for rows := len(args) / m.width; rows > 0; {
		n := rowChunks[len(rowChunks)-1]
		for _, size := range rowChunks {
			if size <= rows {
				n = size
				break
			}
		}
		st, err := c.stmt(ctx, tx, stmtKey{rows: m, n: n})
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args[:n*m.width]...); err != nil {
			return err
		}
		args, rows = args[n*m.width:], rows-n
	}
	return nil
}
