package telemetry

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

func TestTracerIsNilWhenOff(t *testing.T) {
	cfg := configs.Default()
	if Tracer(cfg, "x") != nil {
		t.Fatal("a tracer with tracing off")
	}
	stop, err := Setup(cfg, "v", nil)
	if err != nil || stop(context.Background()) != nil {
		t.Fatalf("Setup with tracing off: %v", err)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("Setup installed a provider with tracing off")
	}
}

// Redis commands made inside a traced operation become its children;
// commands without one (pollers) make no spans; a nil reply is no error.
func TestRedisSpans(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefixAt(t, url)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})

	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	cfg := configs.Default()
	cfg.Tracing = &configs.Tracing{Endpoint: "http://127.0.0.1:4318"}
	InstrumentRedis(cfg, client)

	ctx := context.Background()
	if err := client.Set(ctx, prefix+"untraced", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, op := tp.Tracer("test").Start(ctx, "ratelimit.limit")
	if err := client.Get(ctx, prefix+"missing").Err(); err != redis.Nil {
		t.Fatalf("GET missing: %v", err)
	}
	pipe := client.Pipeline()
	pipe.Incr(ctx, prefix+"n")
	pipe.Incr(ctx, prefix+"n")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	op.End()

	// A fresh connection's handshake (HELLO, CLIENT SETINFO) may show up
	// as grandchildren under the first command; only the operation's
	// direct children are the calls made.
	var names []string
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() != op.SpanContext().SpanID() {
			continue
		}
		names = append(names, s.Name())
		if s.Status().Code == codes.Error {
			t.Errorf("%s marked failed: %v", s.Name(), s.Status())
		}
	}
	if len(names) != 2 || names[0] != "redis.get" || names[1] != "redis.pipeline" {
		t.Fatalf("children of the operation = %v, want redis.get, redis.pipeline", names)
	}
	for _, s := range rec.Ended() {
		if s.Name() == "redis.set" {
			t.Errorf("a command outside any operation made a span")
		}
	}
}
