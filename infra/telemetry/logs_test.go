package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keyline/keyline/configs"
)

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

func TestNewLoggerLevelAndTraceID(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(configs.Logs{Format: "json", Level: "warn"}, &buf, true)
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	logger.InfoContext(ctx, "dropped")
	logger.With("component", "x").WarnContext(ctx, "kept", "requestId", "req_1")
	logger.Warn("no context")
	span.End()

	recs := records(t, &buf)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2 (info suppressed): %v", len(recs), recs)
	}
	want := span.SpanContext()
	if recs[0]["msg"] != "kept" || recs[0]["trace_id"] != want.TraceID().String() ||
		recs[0]["span_id"] != want.SpanID().String() || recs[0]["component"] != "x" || recs[0]["requestId"] != "req_1" {
		t.Errorf("record in a span = %v, want trace_id %s", recs[0], want.TraceID())
	}
	if _, ok := recs[1]["trace_id"]; ok {
		t.Errorf("record without a span carries a trace_id: %v", recs[1])
	}

	buf.Reset()
	NewLogger(configs.Logs{}, &buf, false).Debug("hidden")
	NewLogger(configs.Logs{}, &buf, false).Info("shown")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "level=INFO msg=shown") {
		t.Errorf("default text logger wrote %q, want only the info line", got)
	}
}

func TestRouteLibraryLogs(t *testing.T) {
	prevSlog, prevFlags, prevOut := slog.Default(), log.Flags(), log.Writer()
	t.Cleanup(func() {
		slog.SetDefault(prevSlog)
		log.SetFlags(prevFlags)
		log.SetOutput(prevOut)
	})
	var buf bytes.Buffer
	RouteLibraryLogs(NewLogger(configs.Logs{Format: "json"}, &buf, false))
	log.Printf("http: TLS handshake error from %s", "127.0.0.1:1")
	// What RouteLibraryLogs hands redis.SetLogger.
	redisLogger{slog.Default()}.Printf(context.Background(), "redis: pool %s", "closed")

	recs := records(t, &buf)
	msgs := map[string]any{}
	for _, r := range recs {
		msgs[r["msg"].(string)] = r["level"]
	}
	if msgs["http: TLS handshake error from 127.0.0.1:1"] != "INFO" || msgs["redis: pool closed"] != "WARN" {
		t.Errorf("library lines were not routed as JSON records: %v", msgs)
	}
}
