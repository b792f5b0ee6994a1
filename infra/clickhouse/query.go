package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/otel/attribute"
)

// Failure kinds of an analytics query, reported by QueryError.AnalyticsFailure.
// The analytics use case maps each to one of Unkey's error codes.
const (
	FailureConnection = "connection" // the server did not answer
	FailureTimeout    = "timeout"    // max_execution_time
	FailureMemory     = "memory"     // max_memory_usage
	FailureRows       = "rows"       // max_rows_to_read / max_result_rows
	FailureInvalid    = "invalid"    // the server refused the query (unknown column, type mismatch, ...)
)

// QueryLimits are the per-query limits sent as settings with every
// analytics query. The server enforces them and fails the query with an
// exception keyline maps to a 422.
type QueryLimits struct {
	MaxExecutionTime time.Duration
	MaxMemoryUsage   int64
	MaxRowsToRead    int64
}

// DefaultQueryLimits suit a shared analytics server: a few seconds, a few
// hundred megabytes, a hundred million rows read.
var DefaultQueryLimits = QueryLimits{MaxExecutionTime: 10 * time.Second, MaxMemoryUsage: 512 << 20, MaxRowsToRead: 100_000_000}

// Querier runs analytics queries (already rewritten and confined by the
// caller) and returns their rows as JSON-ready maps. A nil *Querier means
// ClickHouse is not configured.
type Querier struct {
	db     *DB
	Limits QueryLimits
}

// NewQuerier returns nil when db is nil (no clickhouse.url).
func NewQuerier(db *DB) *Querier {
	if db == nil {
		return nil
	}
	return &Querier{db: db, Limits: DefaultQueryLimits}
}

// NewQuerierWithLimits is for tests that need a limit to trip.
func NewQuerierWithLimits(db *DB, limits QueryLimits) *Querier {
	return &Querier{db: db, Limits: limits}
}

// Configured reports whether there is a ClickHouse to query.
func (q *Querier) Configured() bool { return q != nil && q.db != nil }

// QueryError is a failed analytics query, classified.
type QueryError struct {
	Kind string
	// Message is the server's own message for FailureInvalid, without the
	// query text the server appends to it.
	Message string
	Err     error
}

func (e *QueryError) Error() string {
	return "clickhouse analytics query (" + e.Kind + "): " + e.Err.Error()
}
func (e *QueryError) Unwrap() error { return e.Err }

// AnalyticsFailure is the failure kind (one of the Failure constants).
func (e *QueryError) AnalyticsFailure() string { return e.Kind }

// AnalyticsMessage is a message safe to show the caller.
func (e *QueryError) AnalyticsMessage() string { return e.Message }

// Query runs sql with the limits and at most maxRows result rows (more is
// a rows failure, never a silently cut answer). readonly = 2 forbids anything but reading even if the SQL
// were not a SELECT, while still letting these settings apply.
func (q *Querier) Query(ctx context.Context, sql string, maxRows int) (_ []map[string]any, err error) {
	if !q.Configured() {
		return nil, errors.New("clickhouse is not configured")
	}
	ctx, span := q.db.startSpan(ctx, "clickhouse.query", attribute.String("db.query.text", sql))
	defer func() { endSpan(span, err) }()
	// Only integer settings: 18.16's native protocol carries settings as
	// integers. The *_overflow_mode settings are left at their default,
	// "throw", which the caller cannot change (SETTINGS is refused).
	settings := ch.Settings{
		"readonly":           2,
		"max_execution_time": int(math.Ceil(q.Limits.MaxExecutionTime.Seconds())),
		"max_memory_usage":   int(q.Limits.MaxMemoryUsage),
		"max_rows_to_read":   int(q.Limits.MaxRowsToRead),
		"max_result_rows":    maxRows,
	}
	qctx := ch.Context(ctx, ch.WithSettings(settings))
	rows, err := q.db.Conn.Query(qctx, sql)
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	names := rows.Columns()
	out := []map[string]any{}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("clickhouse: scanning an analytics row: %w", err)
		}
		row := make(map[string]any, len(dest))
		for i, d := range dest {
			row[names[i]] = jsonValue(reflect.ValueOf(d).Elem())
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, err)
	}
	return out, nil
}

// jsonValue turns a scanned value into something encoding/json renders as
// the reference does: NaN and ±Inf (which JSON cannot carry) become null,
// NULLs become null, and the same inside arrays.
func jsonValue(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		items := make([]any, v.Len())
		for i := range items {
			items[i] = jsonValue(v.Index(i))
		}
		return items
	}
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC()
	}
	return v.Interface()
}

// Exception codes the classification knows. Codes for user mistakes are
// the ones a well-formed but wrong SELECT produces.
var (
	limitCodes = map[int32]string{
		159: FailureTimeout, // TIMEOUT_EXCEEDED
		241: FailureMemory,  // MEMORY_LIMIT_EXCEEDED
		158: FailureRows,    // TOO_MANY_ROWS
		396: FailureRows,    // TOO_MANY_ROWS_OR_BYTES
		307: FailureRows,    // TOO_MANY_BYTES
	}
	userCodes = map[int32]bool{
		6: true, 10: true, 16: true, 27: true, 32: true, 36: true, 38: true, 41: true, 42: true, 43: true,
		44: true, 46: true, 47: true, 48: true, 49: true, 53: true, 62: true, 69: true, 70: true, 72: true,
		153: true, 179: true, 184: true, 190: true, 215: true, 352: true, 386: true,
	}
)

// classify sorts a failure: a server exception is a limit, a mistake in
// the query, or keyline's own problem (e.g. a missing table: a 500); any
// other error means the server could not be reached or the connection
// broke.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ex *ch.Exception
	if errors.As(err, &ex) {
		if kind, ok := limitCodes[ex.Code]; ok {
			return &QueryError{Kind: kind, Err: err}
		}
		if userCodes[ex.Code] {
			return &QueryError{Kind: FailureInvalid, Message: trimServerMessage(ex.Message), Err: err}
		}
		return fmt.Errorf("clickhouse analytics query: %w", err)
	}
	return &QueryError{Kind: FailureConnection, Err: err}
}

// trimServerMessage keeps the first sentence-ish part of a server message:
// it drops what follows "while processing query", where the server quotes
// the rewritten query, and bounds the length.
func trimServerMessage(msg string) string {
	for _, cut := range []string{", while processing query", " while processing query", ": While processing", "\n"} {
		if i := strings.Index(msg, cut); i >= 0 {
			msg = msg[:i]
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}
