package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// Record is one analytics record of the local store, at its position.
// Positions are dense: the store numbers records 1, 2, 3, ... in commit
// order without gaps, so a reader that finds the next position missing
// knows exactly how many records retention trimmed before it read them.
type Record struct {
	Position int64
	// Payload is the record's JSON, as on the Redis stream (docs/EVENTS.md).
	Payload string
	// Retry is set on records stored by a retried publish whose first
	// attempt may have been stored too: the same record ID may then be in
	// the store twice, and a reader that must not count it twice checks.
	Retry bool
}

// Event decodes the record.
func (r Record) Event() (events.AnalyticsEvent, error) {
	var ev events.AnalyticsEvent
	err := decodeRecord(r.Payload, &ev)
	if err == nil && ev.ID == "" {
		err = errors.New("record without id")
	}
	return ev, err
}

// RecordReader reads the local store by position. It is the stable
// interface every reader of the local records is built on: the ClickHouse
// projector, `keyline consume` and local projections of analytics.
type RecordReader interface {
	// ReadAfter returns up to limit records with a position greater than
	// after, in position order. The first record's position minus after
	// minus one is how many records retention trimmed unread (Gap).
	ReadAfter(ctx context.Context, after int64, limit int) ([]Record, error)
	// Head returns the oldest and newest retained positions (0, 0 when the
	// store is empty).
	Head(ctx context.Context) (first, last int64, err error)
}

// Gap is how many records were trimmed between position after and the
// first of recs, which ReadAfter(after) returned: records the reader never
// saw. Positions are dense, so anything else is retention's doing.
func Gap(after int64, recs []Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	return max(recs[0].Position-after-1, 0)
}

// LocalStore keeps analytics records in the primary database when there is
// no Redis stream to carry them: the embedded default, and PostgreSQL
// without Redis. It holds at most `analytics.retention` records; older ones
// are trimmed as new ones arrive, the same bound MAXLEN gives the Redis
// stream.
//
// The table (analytics_log) is only a position, a retry flag and the JSON:
// no index but the primary key. The record ID used to be a UNIQUE column,
// and maintaining that index of random strings was most of the cost of
// storing a record on SQLite; duplicates from a retried publish are
// flagged instead (Record.Retry), as on the Redis stream.
type LocalStore struct {
	db        *sqlstore.DB
	retention int64
	// fullInsert caches insertSQL(localInsertRows).
	fullInsert atomic.Pointer[string]
}

var _ RecordReader = (*LocalStore)(nil)

// localLockKey serialises inserts on PostgreSQL: positions are assigned
// under it (the highest position plus one), so they are dense and commit
// in order, and a reader at "position > N" never skips a late commit (the
// same gap rule as the event log). SQLite has one writer anyway.
const localLockKey = 7340582

// NewLocalStore creates the tables if needed, and rebuilds an analytics_log
// of the earlier layout (with its unique id column) in the new one.
func NewLocalStore(ctx context.Context, db *sqlstore.DB, retention int64) (*LocalStore, error) {
	l := &LocalStore{db: db, retention: max(retention, 1)}
	err := db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		old, err := l.hasColumn(ctx, tx, "analytics_log", "id")
		if err != nil {
			return err
		}
		if old {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE analytics_log RENAME TO analytics_log_old`); err != nil {
				return err
			}
		}
		stmts := []string{
			`CREATE TABLE IF NOT EXISTS analytics_log (seq BIGINT PRIMARY KEY, retry SMALLINT NOT NULL DEFAULT 0, payload TEXT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS consumer_offsets (group_name TEXT NOT NULL, source TEXT NOT NULL,
			position BIGINT NOT NULL, PRIMARY KEY (group_name, source))`,
		}
		if old {
			// Positions are kept, so consumer offsets stay valid.
			stmts = append(stmts, `INSERT INTO analytics_log (seq, retry, payload) SELECT seq, 0, payload FROM analytics_log_old`,
				`DROP TABLE analytics_log_old`)
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating the local analytics store: %w", err)
	}
	return l, nil
}

func (l *LocalStore) lock(ctx context.Context, tx bun.Tx) error {
	if l.db.Kind != configs.KindPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", localLockKey)
	return err
}

func (l *LocalStore) hasColumn(ctx context.Context, tx bun.Tx, table, column string) (bool, error) {
	q := `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`
	if l.db.Kind == configs.KindPostgres {
		q = `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`
	}
	var n int
	err := tx.QueryRowContext(ctx, q, table, column).Scan(&n)
	return n > 0, err
}

// localInsertRows is how many records one INSERT carries: three bound
// values each, far below SQLite's and PostgreSQL's limits on parameters.
const localInsertRows = 250

// Publish stores a batch at the next positions and trims the store to its
// retention, in one transaction. retry marks the records (see Record.Retry).
// Records go in multi-row INSERTs: one statement per record was most of the
// embedded default's cost per verification (SQLite parses and plans every
// statement).
func (l *LocalStore) Publish(ctx context.Context, evs []events.AnalyticsEvent, retry bool) error {
	if len(evs) == 0 {
		return nil
	}
	flag := 0
	if retry {
		flag = 1
	}
	// Encoded before the transaction: SQLite holds its write lock for the
	// transaction's length, and other writers (the event log) wait on it.
	var buf []byte
	ends := make([]int, len(evs))
	for i := range evs {
		var err error
		if buf, err = appendRecord(buf, &evs[i]); err != nil {
			return err
		}
		ends[i] = len(buf)
	}
	// One string for the whole batch; each record's value is a slice of it.
	all := string(buf)
	return l.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM analytics_log`).Scan(&last); err != nil {
			return err
		}
		args := make([]any, 0, 3*min(len(evs), localInsertRows))
		start := 0
		for from := 0; from < len(evs); from += localInsertRows {
			to := min(from+localInsertRows, len(evs))
			args = args[:0]
			for i := from; i < to; i++ {
				args = append(args, last+int64(i)+1, flag, all[start:ends[i]])
				start = ends[i]
			}
			// The driver's own parameters (tx.Tx), not bun's formatter,
			// which would print every payload into the SQL text for the
			// database to parse again.
			if _, err := tx.Tx.ExecContext(ctx, l.insertSQL(to-from), args...); err != nil {
				return fmt.Errorf("storing analytics records: %w", err)
			}
		}
		if cut := last + int64(len(evs)) - l.retention; cut > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM analytics_log WHERE seq <= ?`, cut); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertSQL is the INSERT of n records with the driver's placeholders;
// the statement of a full chunk is built once.
func (l *LocalStore) insertSQL(n int) string {
	if n == localInsertRows {
		if q := l.fullInsert.Load(); q != nil {
			return *q
		}
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO analytics_log (seq, retry, payload) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if l.db.Kind == configs.KindPostgres {
			fmt.Fprintf(&b, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
		} else {
			b.WriteString("(?, ?, ?)")
		}
	}
	q := b.String()
	if n == localInsertRows {
		l.fullInsert.Store(&q)
	}
	return q
}

// ReadAfter implements RecordReader. It reads the primary: a replica may lag
// and would make records look missing.
func (l *LocalStore) ReadAfter(ctx context.Context, after int64, limit int) ([]Record, error) {
	rows, err := l.db.Primary.QueryContext(ctx, `SELECT seq, retry, payload FROM analytics_log WHERE seq > ? ORDER BY seq LIMIT ?`,
		after, max(limit, 1))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Record, 0, min(max(limit, 1), 1024))
	for rows.Next() {
		var r Record
		var retry int
		if err := rows.Scan(&r.Position, &retry, &r.Payload); err != nil {
			return nil, err
		}
		r.Retry = retry != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

// Head implements RecordReader.
func (l *LocalStore) Head(ctx context.Context) (first, last int64, err error) {
	var f, la sql.NullInt64
	err = l.db.Primary.QueryRowContext(ctx, `SELECT MIN(seq), MAX(seq) FROM analytics_log`).Scan(&f, &la)
	return f.Int64, la.Int64, err
}
