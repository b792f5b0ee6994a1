package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/telemetry"
)

// otlpReceiver is a minimal OTLP/HTTP trace receiver: it accepts POST
// /v1/traces with protobuf bodies, as a collector would, and keeps every span.
type otlpReceiver struct {
	URL string

	mu    sync.Mutex
	spans []*tracepb.Span
	attrs map[string]string // resource attributes of the last export
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{attrs: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	rc.URL = "http://" + l.Addr().String()
	return rc
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			rc.attrs[kv.Key] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			rc.spans = append(rc.spans, ss.Spans...)
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *otlpReceiver) snapshot() ([]*tracepb.Span, map[string]string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	attrs := map[string]string{}
	for k, v := range rc.attrs {
		attrs[k] = v
	}
	return append([]*tracepb.Span(nil), rc.spans...), attrs
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return fmt.Sprint(v.IntValue)
			}
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// A traced server exports a span per operation with the event-log append
// and its SQL statements as descendants, continues a caller's traceparent,
// writes the trace ID into request logs, and flushes on SIGTERM: spans are
// asserted only after the process exited, well inside the batcher's 5 s
// export delay.
func TestTracingExportsOperationAndAppendSpans(t *testing.T) {
	rc := newOTLPReceiver(t)
	p, ts := startJSONLogged(t, map[string]any{"format": "json"},
		map[string]any{"tracing": map[string]any{"endpoint": rc.URL, "sampleRate": 1}})
	apiID := ts.createAPI(t, ts.RootKey, "traced")
	var key struct{ Key string }
	ts.must(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": apiID}, &key)

	// A caller's trace: the verification must become its child.
	callerTrace, callerSpan := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v2/keys.verifyKey", strings.NewReader(`{"key":"`+key.Key+`"}`))
	req.Header.Set("Authorization", "Bearer "+ts.RootKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("verifyKey: status %d", resp.StatusCode)
	}
	if status, _ := ts.raw(t, "apis.getApi", "Bearer kl_root_unknown", []byte(`{"apiId":"`+apiID+`"}`)); status != 401 {
		t.Fatalf("unknown root key: status %d, want 401", status)
	}
	stopGracefully(t, p)

	spans, res := rc.snapshot()
	if res["service.name"] != "keyline" {
		t.Errorf("resource attributes = %v, want service.name keyline", res)
	}
	byID := map[string]*tracepb.Span{}
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
		byName[s.Name] = append(byName[s.Name], s)
	}
	parentOf := func(s *tracepb.Span) *tracepb.Span { return byID[hex.EncodeToString(s.ParentSpanId)] }

	creates := byName["apis.createApi"]
	if len(creates) != 1 {
		t.Fatalf("got %d apis.createApi spans, want 1; span names: %v", len(creates), names(spans))
	}
	op := creates[0]
	if op.Kind != tracepb.Span_SPAN_KIND_SERVER || len(op.ParentSpanId) != 0 ||
		spanAttr(op, "http.route") != "/v2/apis.createApi" || !strings.HasPrefix(spanAttr(op, "keyline.request_id"), "req_") {
		t.Errorf("apis.createApi span = kind %v, parent %x, attributes %v", op.Kind, op.ParentSpanId, op.Attributes)
	}
	var appendSpan *tracepb.Span
	for _, s := range byName["eventlog.append"] {
		if parentOf(s) == op {
			appendSpan = s
		}
	}
	if appendSpan == nil {
		t.Fatalf("no eventlog.append span under apis.createApi; span names: %v", names(spans))
	}
	if spanAttr(appendSpan, "keyline.event_name") != "api.created" || spanAttr(appendSpan, "keyline.event_count") != "1" ||
		string(appendSpan.TraceId) != string(op.TraceId) {
		t.Errorf("append span attributes %v", appendSpan.Attributes)
	}
	var inserts int
	for _, s := range byName["db.query"] {
		if parentOf(s) == appendSpan && spanAttr(s, "db.operation.name") == "INSERT" {
			inserts++
		}
	}
	if inserts == 0 {
		for _, s := range byName["db.query"] {
			t.Logf("db.query %q parent %v: %s", spanAttr(s, "db.operation.name"), parentOf(s) != nil && parentOf(s).Name == "eventlog.append", spanAttr(s, "db.query.text"))
		}
		t.Errorf("no INSERT db.query span under eventlog.append")
	}

	verifies := byName["keys.verifyKey"]
	if len(verifies) != 1 {
		t.Fatalf("got %d keys.verifyKey spans, want 1", len(verifies))
	}
	if v := verifies[0]; hex.EncodeToString(v.TraceId) != callerTrace || hex.EncodeToString(v.ParentSpanId) != callerSpan {
		t.Errorf("verifyKey span in trace %x under %x, want the caller's %s under %s", v.TraceId, v.ParentSpanId, callerTrace, callerSpan)
	}
	gets := byName["apis.getApi"]
	if len(gets) != 1 || spanAttr(gets[0], "http.response.status_code") != "401" {
		t.Errorf("apis.getApi spans = %v, want one with status 401", gets)
	}
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// BenchmarkVerifyKeyHandlerTraced is BenchmarkVerifyKeyHandler with tracing
// on, exporting to a local receiver: what a traced verification costs, at
// sampleRate 1 (every request recorded) and 0 (spans created, none recorded).
//
//	go test -run XXX -bench VerifyKeyHandlerTraced -benchmem ./cmd/keyline/
func BenchmarkVerifyKeyHandlerTraced(b *testing.B) {
	for _, rate := range []float64{1, 0} {
		b.Run(fmt.Sprintf("sampleRate=%g", rate), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // keep nothing: only the exporter's side is measured
				out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
				_, _ = w.Write(out)
			}))
			defer srv.Close()
			cfg := configs.Default()
			cfg.Database.Primary = "sqlite:" + b.TempDir() + "/keyline.db"
			cfg.Tracing = &configs.Tracing{Endpoint: srv.URL, SampleRate: &rate}
			stop, err := telemetry.Setup(cfg, "bench", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				_ = stop(context.Background())
				otel.SetTracerProvider(noop.NewTracerProvider())
			}()
			ts := startServerB(b, cfg)
			key := ts.createKeyB(b, map[string]any{"apiId": ts.createAPIB(b, "bench")})
			body, _ := json.Marshal(map[string]any{"key": key, "tags": []string{"path=/v1/items", "method=GET"}})
			serveLoop(b, ts, "/v2/keys.verifyKey", body, `"code":"VALID"`)
		})
	}
}
