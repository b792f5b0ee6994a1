package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
)

// maxTracedStatement bounds the SQL text put on a span: statements with
// long IN lists would otherwise bloat every export.
const maxTracedStatement = 2048

// Trace makes the store emit spans through tracer: one per append
// (eventlog.append) and one per SQL statement run within a traced
// operation (db.query), on the primary and the replica. Call it once,
// before the store serves; without it the store has no tracing code on
// any path.
func (s *Store) Trace(tracer trace.Tracer) {
	s.tracer = tracer
	hook := queryHook{tracer: tracer, system: string(s.db.Kind)}
	if s.db.Kind == configs.KindPostgres {
		hook.system = "postgresql"
	}
	s.db.Primary.AddQueryHook(hook)
	if s.db.Replica != s.db.Primary {
		s.db.Replica.AddQueryHook(hook)
	}
}

// queryHook is a small bun.QueryHook (bunotel is not on the module proxy
// at bun's version). Statements without an enclosing span are skipped: the
// tailer's polls would otherwise each make a trace of their own.
//
// The span travels in the event, not the context: bun keeps the context
// BEGIN's hook returned for the whole transaction, so a span put there
// would become the parent of every statement of the transaction.
type queryHook struct {
	tracer trace.Tracer
	system string
}

type spanKey struct{}

func (h queryHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	text := e.Query
	if len(text) > maxTracedStatement {
		text = text[:maxTracedStatement]
	}
	_, span := h.tracer.Start(ctx, "db.query", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("db.system.name", h.system),
			attribute.String("db.operation.name", e.Operation()),
			attribute.String("db.query.text", text),
		))
	if e.Stash == nil {
		e.Stash = make(map[any]any, 1)
	}
	e.Stash[spanKey{}] = span
	return ctx
}

func (h queryHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	span, ok := e.Stash[spanKey{}].(trace.Span)
	if !ok {
		return
	}
	if e.Err != nil && !errors.Is(e.Err, sql.ErrNoRows) {
		span.RecordError(e.Err)
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End()
}
