package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// inlineExecutor runs watermill's outbox INSERT in the append transaction
// with its arguments written into the statement as literals. A statement
// without arguments is one the event store may hold back and send with the
// group's COMMIT (sqlstore.DeferWrites); with arguments it would cost two
// round trips of its own (pgx prepares it to learn the parameter types).
//
// It knows exactly what watermill's PostgreSQL schema sends: $1, $2, …
// markers outside any literal, bound to strings (the UUID) and byte slices
// holding JSON (payload and metadata, json columns). Anything else is
// refused, not guessed at.
type inlineExecutor struct{ tx *sql.Tx }

func (e inlineExecutor) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	text, err := inlineArgs(query, args)
	if err != nil {
		return nil, err
	}
	return e.tx.ExecContext(ctx, text)
}

// QueryContext is part of watermill's executor; its publisher never queries.
func (e inlineExecutor) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	return e.tx.QueryContext(ctx, query, args...)
}

// inlineArgs replaces each $N marker of query with args[N-1] as a literal.
func inlineArgs(query string, args []any) (string, error) {
	lits := make([]string, len(args))
	for i, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		default:
			return "", fmt.Errorf("outbox: argument %d is a %T, which is not written inline", i+1, a)
		}
		lit, err := pgLiteral(s)
		if err != nil {
			return "", fmt.Errorf("outbox: argument %d: %w", i+1, err)
		}
		lits[i] = lit
	}
	var b strings.Builder
	b.Grow(len(query) + 64*len(args))
	for i := 0; i < len(query); i++ {
		if query[i] != '$' || i+1 >= len(query) || query[i+1] < '0' || query[i+1] > '9' {
			b.WriteByte(query[i])
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(query[i+1 : j])
		if err != nil || n < 1 || n > len(lits) {
			return "", fmt.Errorf("outbox: marker %s has no argument", query[i:j])
		}
		b.WriteString(lits[n-1])
		i = j - 1
	}
	return b.String(), nil
}

// pgLiteral quotes s as an escape-string literal (E'…'), whose meaning does
// not depend on the server's standard_conforming_strings. PostgreSQL text
// holds neither NUL nor invalid UTF-8: both are refused here, as the server
// would refuse them as parameters.
func pgLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("holds a NUL byte")
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString("E'")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`''`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}
