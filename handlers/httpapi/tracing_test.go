package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/telemetry"
)

func attrOf(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// With a tracer the router opens one server span per operation, named
// after it and outside the error middleware, so a refused request's span
// carries its status.
func TestRouterSpansPerOperation(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	var logs bytes.Buffer
	h := NewRouter(&Routes{}, acceptAll{}, Options{MaxBodyBytes: 20, Tracer: tp.Tracer("test")},
		telemetry.NewLogger(configs.Logs{Format: "json"}, &logs, true))

	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/v2/liveness", nil),
		httptest.NewRequest(http.MethodPost, "/v2/keys.verifyKey", strings.NewReader(`{"key":"far too long for the limit"}`)),
		// The empty Routes have no authenticator: the operation panics.
		httptest.NewRequest(http.MethodPost, "/v2/apis.getApi", strings.NewReader(`{"apiId":"api_1"}`)),
	} {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer kl_root_x")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if r.URL.Path == "/v2/apis.getApi" && w.Code != 500 {
			t.Fatalf("panicking operation answered %d %s", w.Code, w.Body)
		}
	}
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3", len(spans))
	}
	live, verify, panicked := spans[0], spans[1], spans[2]
	if panicked.Name() != "apis.getApi" || panicked.Status().Code != codes.Error ||
		attrOf(panicked, "http.response.status_code").AsInt64() != 500 {
		t.Errorf("panicking operation's span = %q status %v attrs %v", panicked.Name(), panicked.Status(), panicked.Attributes())
	}
	if !strings.Contains(logs.String(), `"msg":"panic while serving request"`) || !strings.Contains(logs.String(), "handlers/httpapi") {
		t.Errorf("the panic was not logged with its stack: %s", logs.String())
	}
	if live.Name() != "liveness" || live.SpanKind() != trace.SpanKindServer || attrOf(live, "http.route").AsString() != "/v2/liveness" ||
		!strings.HasPrefix(attrOf(live, "keyline.request_id").AsString(), "req_") {
		t.Errorf("liveness span = %q kind %v attrs %v", live.Name(), live.SpanKind(), live.Attributes())
	}
	if verify.Name() != "keys.verifyKey" || attrOf(verify, "http.response.status_code").AsInt64() != 413 ||
		verify.Status().Code == codes.Error {
		t.Errorf("verifyKey span = %q attrs %v status %v, want status_code 413 and no error status", verify.Name(), verify.Attributes(), verify.Status())
	}
}

// A request's error log carries its request ID and, in a traced request,
// the trace ID; the span is marked failed.
func TestErrorLogCarriesRequestAndTraceID(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	var logs bytes.Buffer
	logger := telemetry.NewLogger(configs.Logs{Format: "json"}, &logs, true)

	ctx, span := tp.Tracer("test").Start(handlers.WithRequestID(context.Background(), "req_test1"), "keys.getKey")
	r := httptest.NewRequest(http.MethodPost, "/v2/keys.getKey", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	writeError(w, r, logger, handlers.Internal("reading the key", errors.New("database is down")))
	span.End()

	if w.Code != 500 || strings.Contains(w.Body.String(), "database is down") {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(logs.Bytes(), &got); err != nil {
		t.Fatalf("log is not one JSON record: %q", logs.String())
	}
	if got["msg"] != "request failed" || got["requestId"] != "req_test1" ||
		got["trace_id"] != span.SpanContext().TraceID().String() || !strings.Contains(got["error"].(string), "database is down") {
		t.Errorf("log record = %v", got)
	}
	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Status().Code != codes.Error || attrOf(ended[0], "http.response.status_code").AsInt64() != 500 {
		t.Errorf("span = %v", ended)
	}
}
