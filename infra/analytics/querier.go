package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Querier is what the analytics query API runs its confined SQL on:
// ClickHouse when clickhouse.url is set, otherwise the local query tables
// when records stay in the local store (no redis.url), otherwise nothing
// (analytics not configured). The use case asks LocalDialect which printer
// to use.
type Querier struct {
	ch    *clickhouse.Querier
	local *LocalQuerier
}

// NewQuerier picks the querier for the config.
func NewQuerier(ctx context.Context, cfg *configs.Config, store *sqlstore.Store, ch *clickhouse.DB, logger *slog.Logger) (*Querier, error) {
	if ch != nil {
		return &Querier{ch: clickhouse.NewQuerier(ch)}, nil
	}
	if LocalQueries(cfg) {
		if err := createLocalQueryTables(ctx, store.DB()); err != nil {
			return nil, err
		}
		return &Querier{local: &LocalQuerier{db: store.DB(), timeout: 10 * time.Second, logger: logger}}, nil
	}
	return &Querier{}, nil
}

// LocalQueries reports whether the config answers analytics queries from
// the local store: no ClickHouse, and no Redis stream taking the records
// away from it.
func LocalQueries(cfg *configs.Config) bool {
	return cfg.ClickHouse == nil && (cfg.Redis == nil || cfg.Redis.URL == "")
}

// Configured reports whether queries can be answered.
func (q *Querier) Configured() bool { return q.ch.Configured() || q.local != nil }

// LocalDialect is "sqlite" or "postgres" when queries run on the local
// store, "" on ClickHouse.
func (q *Querier) LocalDialect() string {
	if q.local == nil {
		return ""
	}
	if q.local.db.Kind == configs.KindPostgres {
		return "postgres"
	}
	return "sqlite"
}

// CompleteSince is the oldest instant the local store holds completely.
func (q *Querier) CompleteSince(ctx context.Context) (time.Time, error) {
	if q.local == nil {
		return time.Time{}, nil
	}
	return localCompleteSince(ctx, q.local.db)
}

// Query runs sql (already confined) and returns at most maxRows rows.
func (q *Querier) Query(ctx context.Context, sql string, maxRows int) ([]map[string]any, error) {
	if q.local != nil {
		return q.local.Query(ctx, sql, maxRows)
	}
	return q.ch.Query(ctx, sql, maxRows)
}

// LocalQuerier runs queries on the local query tables, read-only and
// under a time limit.
type LocalQuerier struct {
	db      *sqlstore.DB
	timeout time.Duration
	logger  *slog.Logger
}

// Query runs sql. On PostgreSQL it runs in a READ ONLY transaction with a
// statement_timeout; on SQLite the time limit is the context's, which
// interrupts the statement. More than maxRows rows is a "rows" failure, as
// on ClickHouse, never a silently cut answer.
func (q *LocalQuerier) Query(ctx context.Context, query string, maxRows int) (out []map[string]any, err error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	run := func(ctx context.Context, db bun.IDB) error {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = scanLocalRows(rows, maxRows)
		return err
	}
	if q.db.Kind == configs.KindPostgres {
		err = q.db.Primary.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", q.timeout.Milliseconds())); err != nil {
				return err
			}
			return run(ctx, tx)
		})
	} else {
		err = run(ctx, q.db.Primary)
	}
	if err != nil {
		return nil, q.classify(ctx, err)
	}
	return out, nil
}

var errTooManyRows = errors.New("too many rows")

func scanLocalRows(rows *sql.Rows, maxRows int) ([]map[string]any, error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		if len(out) == maxRows {
			return nil, errTooManyRows
		}
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]any, len(names))
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				v = string(x)
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					v = nil
				}
			case bool:
				v = 0
				if x {
					v = 1
				}
			}
			row[names[i]] = v
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// classify turns a failed local query into the failure kinds the use case
// maps (see clickhouse.QueryError): the time limit, too many rows, or a
// query the database refused (division by zero, an overflow, ...), whose
// message is shown without the query text.
func (q *LocalQuerier) classify(ctx context.Context, err error) error {
	if errors.Is(err, errTooManyRows) {
		return &clickhouse.QueryError{Kind: clickhouse.FailureRows, Err: err}
	}
	if ctx.Err() == context.DeadlineExceeded {
		return &clickhouse.QueryError{Kind: clickhouse.FailureTimeout, Err: err}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "57014":
			return &clickhouse.QueryError{Kind: clickhouse.FailureTimeout, Err: err}
		case strings.HasPrefix(pg.Code, "22"), strings.HasPrefix(pg.Code, "42"), strings.HasPrefix(pg.Code, "54"):
			q.logger.Warn("local analytics query refused by the database", "error", err)
			return &clickhouse.QueryError{Kind: clickhouse.FailureInvalid, Message: pg.Message, Err: err}
		}
		return fmt.Errorf("local analytics query: %w", err)
	}
	if q.db.Kind == configs.KindSQLite {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		q.logger.Warn("local analytics query refused by the database", "error", err)
		return &clickhouse.QueryError{Kind: clickhouse.FailureInvalid, Message: msg, Err: err}
	}
	return &clickhouse.QueryError{Kind: clickhouse.FailureConnection, Err: err}
}
