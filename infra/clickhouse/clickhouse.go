package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/telemetry"
)

// DB is an open ClickHouse connection with what the server supports.
type DB struct {
	Conn     driver.Conn
	Database string
	// Version is the server's version string, e.g. "18.16.1".
	Version  string
	Features Features
	// MigrationsApplied counts the schema steps OpenConfigured applied.
	MigrationsApplied int
	// Logger reports rollup repairs (rare: they follow a server crash);
	// nil reports nothing.
	Logger *slog.Logger
	// Tracer spans batch inserts and queries; nil when tracing is off.
	Tracer trace.Tracer
}

// startSpan starts a client span named name when tracing is on; end it with
// telemetry.End. With tracing off it returns ctx and a nil span.
func (db *DB) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if db.Tracer == nil {
		return ctx, nil
	}
	attrs = append(attrs, attribute.String("db.system.name", "clickhouse"), attribute.String("db.namespace", db.Database))
	return db.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan ends a span from db.startSpan, recording err.
func endSpan(span trace.Span, err error) {
	if span != nil {
		telemetry.End(span, err)
	}
}

// Features are the optional server capabilities keyline uses when present.
type Features struct {
	// TTL: table-level TTL expressions (19.6+), used to expire raw rows.
	TTL bool
	// AsyncInsert: server-side insert buffering (21.11+).
	AsyncInsert bool
}

// FeaturesOf derives the capabilities from a version string; unparsable
// versions get none, which is always safe.
func FeaturesOf(version string) Features {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return Features{}
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return Features{}
	}
	atLeast := func(ma, mi int) bool { return major > ma || (major == ma && minor >= mi) }
	return Features{TTL: atLeast(19, 6), AsyncInsert: atLeast(21, 11)}
}

// ParseURL turns clickhouse://user:pass@host:9000/db (native protocol) or
// http(s)://user:pass@host:8123/db (HTTP) into driver options. Query
// parameters are passed to the driver (e.g. dial_timeout, secure).
func ParseURL(raw string) (*ch.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("clickhouse url: %w", errWithoutURL(err))
	}
	switch u.Scheme {
	case "clickhouse", "http", "https":
	default:
		return nil, fmt.Errorf("clickhouse url: scheme %q is not clickhouse, http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("clickhouse url: no host")
	}
	dsn := raw
	if u.Scheme == "https" && !u.Query().Has("secure") {
		// The driver wants TLS asked for explicitly; https implies it.
		q := u.Query()
		q.Set("secure", "true")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse url: %w", errWithoutURL(err))
	}
	if opts.Auth.Username == "" {
		opts.Auth.Username = "default"
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "default"
	}
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	return opts, nil
}

// errWithoutURL keeps url.Error's cause but not the URL, which may carry a
// password.
func errWithoutURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// Open connects, checks that the server answers and reads its version.
func Open(ctx context.Context, raw string) (*DB, error) {
	opts, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var version string
	if err := conn.QueryRow(pingCtx, "SELECT version()").Scan(&version); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse unreachable: %w", err)
	}
	return &DB{Conn: conn, Database: opts.Auth.Database, Version: version, Features: FeaturesOf(version)}, nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.Conn.Close() }

// OpenConfigured opens and migrates the configured ClickHouse. It returns a
// nil *DB when clickhouse.url is not set: analytics is then off, and the
// rest of keyline runs as before.
func OpenConfigured(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*DB, func(), error) {
	if cfg.ClickHouse == nil || cfg.ClickHouse.URL == "" {
		return nil, func() {}, nil
	}
	db, err := Open(ctx, cfg.ClickHouse.URL)
	if err != nil {
		return nil, nil, err
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	db.MigrationsApplied = applied
	db.Logger = logger
	db.Tracer = telemetry.Tracer(cfg, "github.com/keyline/keyline/infra/clickhouse")
	logger.Info("clickhouse ready", "version", db.Version, "database", db.Database,
		"ttl", db.Features.TTL, "asyncInsert", db.Features.AsyncInsert, "migrationsApplied", applied)
	return db, func() { _ = db.Close() }, nil
}
