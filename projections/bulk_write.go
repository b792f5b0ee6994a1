package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// A replay writes each table once, into an empty table, inside its
// transaction. Letting bun render every value into a multi-row INSERT costs
// a statement compile per chunk: on SQLite (modernc) the compiled program
// of a large INSERT is mapped and unmapped each time, and that alone took a
// third of a replay's CPU. Instead the rows go in as bound values:
//
//   - SQLite: one prepared INSERT of sqliteParamsPerStmt values, compiled once
//     per table and executed for every full group, plus one for the tail.
//   - PostgreSQL: one COPY per table (copyRows), in the replay's
//     transaction. pgx encodes the next rows while the server stores the
//     ones before, and the server stores a copied row with less work than
//     an inserted one: the keys of the benchmark's log went in twice as fast
//     as with one INSERT … SELECT FROM unnest(…) per 20,000 rows.
//
// Values are bound exactly as bun renders them (pointers as NULL or their
// value, []string as its JSON text), so the tables hold the same bytes as
// the per-event path writes; the projection tests compare them.

// sqliteParamsPerStmt is how many parameters (rows × columns) one prepared
// INSERT binds. Each call has a fixed cost in database/sql and the driver,
// but modernc's bind looks every parameter up in the argument list from
// its start, so binding costs grow with the square of this number: 160
// took the least CPU writing 60,000 key rows (about a quarter less than
// 320; 64 and 240 were both slower).
const sqliteParamsPerStmt = 160

// columnOf turns one field of a row into the value bound for its column.
type columnOf func(reflect.Value) any

// tableShape is what writing rows of one Go type needs: its table, its
// columns and how to bind each.
type tableShape struct {
	table  *schema.Table
	fields []*schema.Field
	values []columnOf
}

func shapeOf[R any](d schema.Dialect) (*tableShape, error) {
	t := d.Tables().Get(reflect.TypeFor[R]())
	s := &tableShape{table: t, fields: t.Fields}
	for _, f := range t.Fields {
		v, err := binder(f.IndirectType)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name, f.Name, err)
		}
		if f.IsPtr {
			v = nullable(v)
		}
		s.values = append(s.values, v)
	}
	return s, nil
}

// binder returns how a value of type t is bound, following bun's own
// rendering of the read-model row types.
func binder(t reflect.Type) (columnOf, error) {
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value) any { return v.String() }, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) any { return v.Int() }, nil
	case reflect.Bool:
		return func(v reflect.Value) any { return v.Bool() }, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return func(v reflect.Value) any { return v.Bytes() }, nil
		}
		// bun stores a slice as its JSON text (a nil slice as "null").
		return func(v reflect.Value) any {
			b, err := json.Marshal(v.Interface())
			if err != nil {
				panic(fmt.Errorf("encoding %s: %w", v.Type(), err))
			}
			return string(b)
		}, nil
	}
	return nil, fmt.Errorf("no bulk binding for %s", t)
}

func nullable(inner columnOf) columnOf {
	return func(v reflect.Value) any {
		if v.IsNil() {
			return nil
		}
		return inner(v.Elem())
	}
}

// row appends the column values of r to dst.
func (s *tableShape) row(dst []any, r reflect.Value) []any {
	for i, f := range s.fields {
		dst = append(dst, s.values[i](r.FieldByIndex(f.Index)))
	}
	return dst
}

func (s *tableShape) columnList() string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = string(f.SQLName)
	}
	return strings.Join(names, ", ")
}

// writeRows inserts rows, in order, into R's empty table. Outside a
// transaction (which a replay always has) it falls back to bun's INSERT.
func writeRows[R any](ctx context.Context, db bun.IDB, rows []*R) error {
	if len(rows) == 0 {
		return nil
	}
	tx, ok := db.(bun.Tx)
	if !ok {
		return insertModels(ctx, db, rows)
	}
	s, err := shapeOf[R](db.Dialect())
	if err != nil {
		return err
	}
	if db.Dialect().Name() == dialect.PG {
		_, err := tx.Tx.ExecContext(ctx, copyQuery, &copyRows{shape: s, rows: reflect.ValueOf(rows), at: -1})
		return err
	}
	return s.writePrepared(ctx, tx.Tx, rows, "")
}

// insertRowsInline inserts rows inside an append's transaction, skipping
// each whose conflict target (a column list: "id") is taken, as
// INSERT … ON CONFLICT (target) DO NOTHING does. On SQLite the rows go
// through writePrepared, OR FAIL: a multi-row INSERT that may abort would
// copy every page it changes into a statement journal, to undo itself
// alone, and no append needs that undo, since a failed write rolls back
// its whole transaction or its command's savepoint (groupcommit.go).
// PostgreSQL keeps bun's multi-row INSERT.
func insertRowsInline[R any](ctx context.Context, db bun.IDB, rows []*R, target string) error {
	if len(rows) == 0 {
		return nil
	}
	onConflict := "CONFLICT (" + target + ") DO NOTHING"
	tx, ok := db.(bun.Tx)
	if !ok || db.Dialect().Name() != dialect.SQLite {
		_, err := db.NewInsert().Model(&rows).On(onConflict).Returning("NULL").Exec(ctx)
		return err
	}
	s, err := shapeOf[R](db.Dialect())
	if err != nil {
		return err
	}
	return s.writePrepared(ctx, tx.Tx, rows, " ON "+onConflict)
}

// insertModels is bun's multi-row INSERT, in chunks.
func insertModels[R any](ctx context.Context, db bun.IDB, rows []*R) error {
	const chunk = 500
	for i := 0; i < len(rows); i += chunk {
		part := make([]R, 0, min(chunk, len(rows)-i))
		for _, r := range rows[i:min(i+chunk, len(rows))] {
			part = append(part, *r)
		}
		if _, err := db.NewInsert().Model(&part).Returning("NULL").Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// statementsKey holds, in an append's context, where its prepared
// statements come from (LiveApplier.ApplyWithStatements).
type statementsKey struct{}

// keptStatements returns the source of kept statements ctx carries, or nil.
func keptStatements(ctx context.Context) func(context.Context, string) (*sql.Stmt, error) {
	kept, _ := ctx.Value(statementsKey{}).(func(context.Context, string) (*sql.Stmt, error))
	return kept
}

// writePrepared runs one prepared multi-row INSERT per full group of rows
// and a single-row one for the rest, each followed by tail (an upsert
// clause, or nothing). It is SQLite's. The statements are prepared on tx
// and closed after, unless ctx carries statements that outlive it.
func (s *tableShape) writePrepared(ctx context.Context, tx *sql.Tx, rows any, tail string) error {
	rv := reflect.ValueOf(rows)
	n := rv.Len()
	per := max(1, sqliteParamsPerStmt/len(s.fields))
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(s.fields)), ", ") + ")"
	// OR FAIL instead of the default ABORT: a multi-row INSERT that may
	// abort keeps a statement journal (a temporary file, written page by
	// page) to undo itself alone, and neither the replay nor an append
	// needs that undo, since an error rolls its whole transaction (or the
	// append's savepoint) back.
	head := "INSERT OR FAIL INTO " + string(s.table.SQLName) + " (" + s.columnList() + ") VALUES "
	kept := keptStatements(ctx)
	prepare := func(k int) (*sql.Stmt, error) {
		query := head + strings.TrimSuffix(strings.Repeat(one+", ", k), ", ") + tail
		if kept != nil {
			return kept(ctx, query)
		}
		return tx.PrepareContext(ctx, query)
	}
	release := func(stmt *sql.Stmt) error {
		if kept != nil {
			return nil
		}
		return stmt.Close()
	}
	args := make([]any, 0, per*len(s.fields))
	run := func(stmt *sql.Stmt, from, to int) error {
		args = args[:0]
		for i := from; i < to; i++ {
			args = s.row(args, rv.Index(i).Elem())
		}
		_, err := stmt.ExecContext(ctx, args...)
		return err
	}
	i := 0
	if n >= per {
		stmt, err := prepare(per)
		if err != nil {
			return err
		}
		for ; i+per <= n; i += per {
			if err := run(stmt, i, i+per); err != nil {
				_ = release(stmt)
				return err
			}
		}
		if err := release(stmt); err != nil {
			return err
		}
	}
	if i == n {
		return nil
	}
	stmt, err := prepare(1)
	if err != nil {
		return err
	}
	defer func() { _ = release(stmt) }()
	for ; i < n; i++ {
		if err := run(stmt, i, i+1); err != nil {
			return err
		}
	}
	return nil
}

// sqliteReplaySettings raises the page cache of the replay's connection
// and returns what puts it back: SQLite spills dirty pages to the WAL once
// its page cache (2 MB by default) is full, long before this one
// transaction commits; 256 MB keeps the rebuilt tables in memory until the
// commit writes them once.
func sqliteReplaySettings(ctx context.Context, tx bun.Tx) (func(), error) {
	var pages int64
	if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&pages); err != nil {
		return nil, fmt.Errorf("reading cache_size: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
		return nil, fmt.Errorf("raising cache_size: %w", err)
	}
	return func() {
		_, _ = tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", pages))
	}, nil
}

// copyQuery with a copyRows as its only argument makes PostgreSQL's
// connection (infra/sqlstore's pgConn, CopyQuery) send the rows with COPY
// in the transaction's connection: the rows are encoded while the server
// stores those before them, and COPY stores them with less work per row
// than an INSERT.
const copyQuery = "COPY"

// copyRows hands the rows of one table to COPY, one at a time.
type copyRows struct {
	shape  *tableShape
	rows   reflect.Value // a slice of *R
	at     int
	values []any
}

func (c *copyRows) CopyTable() string { return c.shape.table.Name }

func (c *copyRows) CopyColumns() []string {
	names := make([]string, len(c.shape.fields))
	for i, f := range c.shape.fields {
		names[i] = f.Name
	}
	return names
}

func (c *copyRows) Next() bool {
	c.at++
	return c.at < c.rows.Len()
}

func (c *copyRows) Values() ([]any, error) {
	c.values = c.shape.row(c.values[:0], c.rows.Index(c.at).Elem())
	return c.values, nil
}

func (c *copyRows) Err() error { return nil }
