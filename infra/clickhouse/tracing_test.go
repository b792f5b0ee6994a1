package clickhouse_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keyline/keyline/infra/clickhouse"
)

// With a tracer, a batch insert is one client span, child of the caller's.
func TestWriteAuditSpan(t *testing.T) {
	db := openFresh(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(ctx) }()
	db.Tracer = tp.Tracer("test")

	ctx, parent := tp.Tracer("test").Start(ctx, "audit projector")
	rows := []clickhouse.AuditRow{{Position: 1, EventID: "e1", Name: "api.created", Version: 1, StreamID: "api-1",
		StreamVersion: 1, WorkspaceID: "ws_1", OccurredAt: 1, Payload: "{}"}}
	if err := db.WriteAudit(ctx, rows); err != nil {
		t.Fatal(err)
	}
	parent.End()

	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Name() != "clickhouse.writeAudit" || ended[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans = %v", ended)
	}
	var size int64
	for _, kv := range ended[0].Attributes() {
		if kv.Key == "db.operation.batch.size" {
			size = kv.Value.AsInt64()
		}
	}
	if size != 1 {
		t.Errorf("batch size attribute = %d, want 1", size)
	}
}
