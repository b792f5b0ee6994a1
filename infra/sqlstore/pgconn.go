package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL connections that spend fewer round trips.
//
// Every statement costs a round trip: a send and a receive on both sides and
// a wake-up of the server process, which on small machines costs more CPU than
// the statement itself. Two things are saved here.
//
// Queries without arguments run in one round trip. bun writes every argument
// into the SQL text, so nearly every query it sends is new to the server, and
// pgx's default (prepare the text, cache it, execute) costs a second round
// trip for each and fills the statement cache with text never seen again.
// Queries with arguments keep the default: pgx needs the server's parameter
// types to send a []byte into a json column.
//
// An append transaction's writes travel together (DeferWrites). A group
// commit's transaction is BEGIN, the append lock, the heads read, then only
// writes whose answers nobody looks at (the events, the inline projections, the
// checkpoints, the outbox) and COMMIT. In a context marked by DeferWrites,
// BEGIN and every statement without arguments are held back on the
// connection and sent with whatever comes next as one multi-statement simple
// query: BEGIN and the lock go with the heads query, and the writes go with
// COMMIT. That makes the group's transaction two round trips instead of
// about ten. The order of statements is unchanged, so every read still sees
// every write before it. What is given up is the place of an error: a held
// statement that fails is reported by the call that sent it (the next query,
// or Commit), wrapped in DeferredError; the group commit then runs the group
// again without holding anything back, where each statement answers for
// itself.

// pgConnector hands out pgConns. With plain (a DSN that names its own
// query exec mode, as a pooler's simple_protocol) they keep that mode for
// every statement and hold nothing back; they only add COPY (CopyQuery).
type pgConnector struct {
	driver.Connector
	plain bool
}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if pc, ok := conn.(*stdlib.Conn); ok {
		return &pgConn{Conn: pc, plain: c.plain}, nil
	}
	return conn, nil
}

type deferWritesKey struct{}

// DeferWrites marks ctx so that a PostgreSQL transaction begun with it, on
// a connection of this package, holds back its statements without arguments
// until the next query or the commit. A caller must not look at the result
// of such a statement (its rows affected are unknown): the group commit's
// writes are the ones meant.
func DeferWrites(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferWritesKey{}, true)
}

func writesDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferWritesKey{}).(bool)
	return v
}

// DeferredError is the failure of statements that were held back: which of
// them failed is in the wrapped error's text only.
type DeferredError struct{ Err error }

func (e *DeferredError) Error() string { return "deferred statements: " + e.Err.Error() }
func (e *DeferredError) Unwrap() error { return e.Err }

// errDeferredResult answers a question about a held-back statement's result.
var errDeferredResult = errors.New("the statement is deferred: its result is not known yet")

type deferredResult struct{}

func (deferredResult) LastInsertId() (int64, error) { return 0, errDeferredResult }
func (deferredResult) RowsAffected() (int64, error) { return 0, errDeferredResult }

// pgConn is a pgx connection with the two savings above. database/sql uses
// a connection from one goroutine at a time, so its fields need no lock.
type pgConn struct {
	*stdlib.Conn
	plain bool

	// deferring is set from a deferred BEGIN to its COMMIT or ROLLBACK.
	deferring bool
	// begun is set once BEGIN has reached the server.
	begun bool
	// held is the statements not sent yet, each followed by ";\n".
	held strings.Builder
	// txCtx is the context the transaction began with; Commit and
	// Rollback get none of their own.
	txCtx context.Context
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.plain || !writesDeferred(ctx) || opts.Isolation != driver.IsolationLevel(0) || opts.ReadOnly {
		return c.Conn.BeginTx(ctx, opts)
	}
	c.deferring, c.begun, c.txCtx = true, false, ctx
	c.held.Reset()
	c.held.WriteString("begin;\n")
	return deferredTx{c}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if query == CopyQuery && len(args) == 1 {
		if rows, ok := args[0].Value.(CopyRows); ok {
			return c.copyFrom(ctx, rows)
		}
	}
	if c.deferring && len(args) == 0 && writesDeferred(ctx) {
		c.held.WriteString(query)
		c.held.WriteString(";\n")
		return deferredResult{}, nil
	}
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.held.Len() > 0 && len(args) == 0 {
		return c.queryAfterHeld(ctx, query)
	}
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	if len(args) == 0 && !c.plain {
		// Execs without arguments already use the simple protocol.
		args = []driver.NamedValue{{Ordinal: 1, Value: pgx.QueryExecModeExec}}
	}
	return c.Conn.QueryContext(ctx, query, args)
}

// queryAfterHeld sends the held statements and query in one round trip and
// answers with query's rows. pgx reads only the first result of a
// multi-statement text, so the results are read here, on the connection
// underneath, and query's rows (the last result) are converted the way
// pgx's database/sql rows would.
func (c *pgConn) queryAfterHeld(ctx context.Context, query string) (driver.Rows, error) {
	c.held.WriteString(query)
	text := c.held.String()
	c.held.Reset()
	c.begun = true
	mrr := c.Conn.Conn().PgConn().Exec(ctx, text)
	var (
		fields []pgconn.FieldDescription
		rows   [][][]byte
	)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		// A result's description arrives before its rows (and without any
		// for a statement that returns none): keep the last one's.
		fields = append(fields[:0:0], rr.FieldDescriptions()...)
		res := rr.Read()
		rows = res.Rows
	}
	if err := mrr.Close(); err != nil {
		// The refused statement may be query itself or one held before it.
		return nil, &DeferredError{err}
	}
	return newHeldRows(c.Conn.Conn().TypeMap(), fields, rows), nil
}

// flush sends the held statements, if any, in one round trip.
func (c *pgConn) flush(ctx context.Context) error {
	if c.held.Len() == 0 {
		return nil
	}
	text := c.held.String()
	c.held.Reset()
	c.begun = true
	if _, err := c.Conn.ExecContext(ctx, text, nil); err != nil {
		return &DeferredError{err}
	}
	return nil
}

// ResetSession refuses a connection that still holds statements: its
// transaction ended without passing through deferredTx.
func (c *pgConn) ResetSession(ctx context.Context) error {
	if c.deferring || c.held.Len() > 0 {
		return driver.ErrBadConn
	}
	return c.Conn.ResetSession(ctx)
}

// deferredTx ends a transaction begun with DeferWrites.
type deferredTx struct{ c *pgConn }

func (t deferredTx) Commit() error {
	c := t.c
	c.held.WriteString("commit")
	text := c.held.String()
	c.held.Reset()
	c.deferring, c.begun = false, true
	if _, err := c.Conn.ExecContext(c.txCtx, text, nil); err != nil {
		// A failed statement leaves the transaction aborted and skips the
		// rest of the text, COMMIT included.
		if _, rerr := c.Conn.ExecContext(context.WithoutCancel(c.txCtx), "rollback", nil); rerr != nil {
			return &DeferredError{fmt.Errorf("%w (and rolling back: %v)", err, rerr)}
		}
		return &DeferredError{err}
	}
	return nil
}

func (t deferredTx) Rollback() error {
	c := t.c
	c.held.Reset()
	c.deferring = false
	if !c.begun {
		return nil // the server never saw BEGIN
	}
	_, err := c.Conn.ExecContext(context.WithoutCancel(c.txCtx), "rollback", nil)
	return err
}

// heldRows are the rows of a query sent after held statements, read in
// full, with each value converted as pgx's database/sql rows convert it.
type heldRows struct {
	names  []string
	decode []func([]byte) (driver.Value, error)
	rows   [][][]byte
}

func newHeldRows(m *pgtype.Map, fields []pgconn.FieldDescription, rows [][][]byte) *heldRows {
	r := &heldRows{names: make([]string, len(fields)), decode: make([]func([]byte) (driver.Value, error), len(fields)), rows: rows}
	for i, fd := range fields {
		r.names[i] = fd.Name
		r.decode[i] = sqlValueDecoder(m, fd.DataTypeOID, fd.Format)
	}
	return r
}

func (r *heldRows) Columns() []string { return r.names }
func (r *heldRows) Close() error      { r.rows = nil; return nil }

func (r *heldRows) Next(dest []driver.Value) error {
	if len(r.rows) == 0 {
		return io.EOF
	}
	row := r.rows[0]
	r.rows = r.rows[1:]
	for i, raw := range row {
		if raw == nil {
			dest[i] = nil
			continue
		}
		v, err := r.decode[i](raw)
		if err != nil {
			return fmt.Errorf("converting column %s: %w", r.names[i], err)
		}
		dest[i] = v
	}
	return nil
}

// sqlValueDecoder converts one column's values to the driver.Value pgx's
// database/sql rows give for its type (stdlib's Rows.Next), so a scan
// cannot tell which way the rows came.
func sqlValueDecoder(m *pgtype.Map, oid uint32, format int16) func([]byte) (driver.Value, error) {
	switch oid {
	case pgtype.BoolOID:
		return scanned[bool](m, oid, format)
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
		return func(src []byte) (driver.Value, error) {
			var d []byte // a new slice each time: rows keep their values
			err := m.PlanScan(oid, format, &d).Scan(src, &d)
			return d, err
		}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return scanned[int64](m, oid, format)
	case pgtype.Float4OID, pgtype.Float8OID:
		return scanned[float64](m, oid, format)
	case pgtype.CIDOID, pgtype.OIDOID, pgtype.XIDOID:
		return valued[pgtype.Uint32](m, oid, format)
	case pgtype.DateOID:
		return valued[pgtype.Date](m, oid, format)
	case pgtype.TimestampOID:
		return valued[pgtype.Timestamp](m, oid, format)
	case pgtype.TimestamptzOID:
		return valued[pgtype.Timestamptz](m, oid, format)
	default:
		return scanned[string](m, oid, format)
	}
}

// scanned decodes a column into a T, which is its driver.Value.
func scanned[T any](m *pgtype.Map, oid uint32, format int16) func([]byte) (driver.Value, error) {
	var d T
	plan := m.PlanScan(oid, format, &d)
	return func(src []byte) (driver.Value, error) {
		err := plan.Scan(src, &d)
		return d, err
	}
}

// valued decodes a column into a pgtype T and answers with its Value.
func valued[T any, PT interface {
	*T
	driver.Valuer
}](m *pgtype.Map, oid uint32, format int16) func([]byte) (driver.Value, error) {
	var d T
	plan := m.PlanScan(oid, format, PT(&d))
	return func(src []byte) (driver.Value, error) {
		if err := plan.Scan(src, PT(&d)); err != nil {
			return nil, err
		}
		return PT(&d).Value()
	}
}

// CopyQuery is the query of an Exec whose only argument is a CopyRows: the
// rows go to the server with PostgreSQL's COPY protocol, on the connection
// (and in the transaction) the Exec runs on. database/sql has no COPY of
// its own; this keeps a bulk load inside the caller's transaction.
const CopyQuery = "COPY"

// CopyRows is a table's rows for COPY: the row source pgx's CopyFrom reads
// (it encodes the next rows while the server stores the last ones), and
// the table and columns they go to.
type CopyRows interface {
	CopyTable() string
	CopyColumns() []string
	Next() bool
	Values() ([]any, error)
	Err() error
}

func (c *pgConn) copyFrom(ctx context.Context, rows CopyRows) (driver.Result, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	n, err := c.Conn.Conn().CopyFrom(ctx, pgx.Identifier{rows.CopyTable()}, rows.CopyColumns(), rows)
	if err != nil {
		return nil, fmt.Errorf("copying rows into %s: %w", rows.CopyTable(), err)
	}
	return driver.RowsAffected(n), nil
}
