package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
)

// ShutdownTimeout bounds the final flush of buffered spans at shutdown, so
// an unreachable collector cannot hold the process up.
const ShutdownTimeout = 5 * time.Second

// Setup installs the global tracer provider when tracing.endpoint is set and
// returns the function that flushes and stops it; with tracing off it
// installs nothing and the function does nothing. Call it before the
// process is assembled: components pick their tracer when they are built.
func Setup(cfg *configs.Config, version string, logger *slog.Logger) (func(context.Context) error, error) {
	if !cfg.Tracing.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.Tracing.Endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w", err)
	}
	rate := 1.0
	if r := cfg.Tracing.SampleRate; r != nil {
		rate = *r
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "keyline"),
		attribute.String("service.version", version),
		attribute.String("cloud.region", cfg.Region),
		attribute.String("keyline.platform", cfg.Platform),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		// A caller's sampled traceparent is followed, so a trace that
		// started upstream is never cut at keyline.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(rate))),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: exporting spans failed", "error", err)
	}))
	logger.Info("tracing is on", "endpoint", cfg.Tracing.Endpoint, "sampleRate", rate)
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, ShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flushing spans: %w", err)
		}
		return nil
	}, nil
}

// Tracer returns the named tracer when tracing is on, nil when it is off:
// components test for nil once instead of paying for no-op spans.
func Tracer(cfg *configs.Config, name string) trace.Tracer {
	if !cfg.Tracing.Enabled() {
		return nil
	}
	return otel.Tracer(name)
}

// End records err on span (if any) and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// InstrumentRedis adds client spans for every command and pipeline of
// client made within a traced operation, when tracing is on. Commands
// without a parent span (consumers polling their streams) are left alone:
// they would only fill the collector with one-span traces.
func InstrumentRedis(cfg *configs.Config, client redis.UniversalClient) {
	if t := Tracer(cfg, "github.com/keyline/keyline/redis"); t != nil {
		client.AddHook(redisHook{t})
	}
}

type redisHook struct{ tracer trace.Tracer }

func (redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmd)
		}
		ctx, span := h.tracer.Start(ctx, "redis."+cmd.Name(), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", cmd.Name())))
		err := next(ctx, cmd)
		End(span, redisFailure(err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "redis.pipeline", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.Int("db.operation.batch.size", len(cmds))))
		err := next(ctx, cmds)
		End(span, redisFailure(err))
		return err
	}
}

// redisFailure drops redis.Nil, which is an answer ("no such key"), not a failure.
func redisFailure(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
