package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/keyline/keyline/configs"
)

// DB holds the primary (all writes, and reads that must not lag) and the read
// handle (the replica when one is configured, otherwise the primary again).
type DB struct {
	Kind    configs.DatabaseKind
	Primary *bun.DB
	Replica *bun.DB
}

// Open connects to the configured databases and brings the schema up to date.
// The cleanup closes every connection it opened.
func Open(ctx context.Context, cfg configs.Database) (*DB, func(), error) {
	kind, dsn, err := configs.ParseDatabaseURL(cfg.Primary)
	if err != nil {
		return nil, nil, fmt.Errorf("database.primary: %w", err)
	}
	primary, err := connect(kind, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to primary database: %w", err)
	}
	db := &DB{Kind: kind, Primary: primary, Replica: primary}
	cleanup := func() { _ = primary.Close() }
	if cfg.ReadonlyReplica != "" {
		rkind, rdsn, err := configs.ParseDatabaseURL(cfg.ReadonlyReplica)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("database.readonlyReplica: %w", err)
		}
		replica, err := connect(rkind, rdsn)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("connecting to read replica: %w", err)
		}
		db.Replica = replica
		cleanup = func() { _ = replica.Close(); _ = primary.Close() }
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := primary.PingContext(pingCtx); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("primary database unreachable: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		cleanup()
		return nil, nil, err
	}
	return db, cleanup, nil
}

// PrimaryDB is where writes and lag-free reads go.
func (db *DB) PrimaryDB() bun.IDB { return db.Primary }

// ReplicaDB is where reads go first.
func (db *DB) ReplicaDB() bun.IDB { return db.Replica }

func connect(kind configs.DatabaseKind, dsn string) (*bun.DB, error) {
	switch kind {
	case configs.KindPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		// pgx's default mode gets pgConn's savings; a DSN that names another
		// mode (a pooler's simple_protocol) keeps it for every statement.
		sqldb := sql.OpenDB(pgConnector{
			Connector: stdlib.GetConnector(*cfg),
			plain:     cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement,
		})
		// Appends go through one appender (one connection at a time) and a
		// verification holds a connection for one short UPDATE, so a small
		// pool saturates the primary already;
		// a large one only exhausts max_connections (100 by default) once a
		// few nodes share a server.
		// Every open connection stays open: under 16 concurrent requests a
		// smaller idle pool closed and reopened connections all the time,
		// each a new backend process on the server.
		sqldb.SetMaxOpenConns(16)
		sqldb.SetMaxIdleConns(16)
		return bun.NewDB(sqldb, pgdialect.New()), nil
	case configs.KindSQLite:
		if dir := filepath.Dir(dsn); dir != "." && !strings.HasPrefix(dsn, "file:") {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("creating %s: %w", dir, err)
			}
		}
		sqldb, err := sql.Open(sqliteshim.ShimName, sqliteDSN(dsn))
		if err != nil {
			return nil, err
		}
		// WAL lets `keyline bootstrap` and a running server share the file
		// and readers run beside the writer; immediate transactions take the
		// write lock up front so two writers wait on busy_timeout instead of
		// failing on a lock upgrade. synchronous=NORMAL: in WAL mode a commit
		// is in the WAL file before it returns, so an answered write
		// survives kill -9 of the process; only a power loss can take the
		// last commits back (FULL would fsync every commit). Appends reach
		// the file through the store's one appender, so of these
		// connections at most one holds the write lock for the log at a time.
		// Idle connections stay open: opening one parses the whole
		// schema again, which cost more than the createKey it served when
		// database/sql closed all but two after each burst.
		sqldb.SetMaxOpenConns(8)
		sqldb.SetMaxIdleConns(8)
		return bun.NewDB(sqldb, sqlitedialect.New()), nil
	default:
		return nil, fmt.Errorf("unsupported database kind %q", kind)
	}
}

func sqliteDSN(path string) string {
	base := path
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}
