package httpapi

import (
	"net/http"
	"strings"

	"github.com/uptrace/bunrouter"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/handlers"
)

// tracerName names the spans of API operations in the collector.
const tracerName = "github.com/keyline/keyline/handlers/httpapi"

// withSpan opens one server span per API operation, named after it
// ("keys.verifyKey"), continuing the caller's trace when the request
// carries a W3C traceparent. The router installs it only when tracing is
// on, so with tracing off no request pays for it.
func withSpan(tracer trace.Tracer) bunrouter.MiddlewareFunc {
	propagator := otel.GetTextMapPropagator()
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) error {
			route := req.Route()
			ctx := propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			ctx, span := tracer.Start(ctx, strings.TrimPrefix(route, "/v2/"),
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("http.request.method", req.Method),
					attribute.String("http.route", route),
					attribute.String("keyline.request_id", handlers.RequestID(ctx)),
				))
			// A panic is left to guard (which answers and logs it with its
			// stack); the span only notes it, without recovering.
			returned := false
			defer func() {
				if !returned {
					span.SetAttributes(attribute.Int("http.response.status_code", http.StatusInternalServerError))
					span.SetStatus(codes.Error, "panic")
				}
				span.End()
			}()
			err := next(w, req.WithContext(ctx))
			returned = true
			return err
		}
	}
}

// traceStatus marks the request's span with the answer's status when the
// request is traced: errors only, since a success is the span's default.
func traceStatus(r *http.Request, status int) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}
