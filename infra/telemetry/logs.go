package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
)

// NewLogger builds the process logger from logs: JSON or text lines at the
// configured level (info by default). With withTrace, records logged with a
// context inside a span carry trace_id and span_id, so a log line can be
// found from its trace and back.
func NewLogger(logs configs.Logs, w io.Writer, withTrace bool) *slog.Logger {
	var level slog.Level // info: the zero Level
	if logs.Level != "" {
		// configs.Validate accepted the name; UnmarshalText knows the same four.
		_ = level.UnmarshalText([]byte(logs.Level))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if logs.JSON() {
		h = slog.NewJSONHandler(w, opts)
	} else {
		if logs.Color {
			opts.ReplaceAttr = colorLevel
		}
		h = slog.NewTextHandler(w, opts)
	}
	if withTrace {
		h = traceHandler{h}
	}
	return slog.New(h)
}

// RouteLibraryLogs sends what libraries write through their own loggers to
// logger, so that in JSON mode no plain-text line slips out: the standard
// library's log package (net/http's server errors, OpenTelemetry's internal
// logger) and go-redis, which logs to stderr through a logger of its own.
// memberlist and watermill are handed logger where they are built.
func RouteLibraryLogs(logger *slog.Logger) {
	slog.SetDefault(logger)
	redis.SetLogger(redisLogger{logger})
}

type redisLogger struct{ l *slog.Logger }

// Printf logs at warn: go-redis only logs about failing connections and
// pool trouble.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// colorLevel paints the level when logs.color asks for it; plain text is
// the default because logs usually end up in files and collectors.
func colorLevel(_ []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey {
		return a
	}
	color := "\x1b[36m"
	switch lvl := a.Value.Any().(slog.Level); {
	case lvl >= slog.LevelError:
		color = "\x1b[31m"
	case lvl >= slog.LevelWarn:
		color = "\x1b[33m"
	}
	return slog.String(a.Key, color+a.Value.String()+"\x1b[0m")
}

// traceHandler adds the current span's IDs to records logged with a
// context. It costs nothing unless a record is actually written.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
