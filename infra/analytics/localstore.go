package analytics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/sqlstore"
)

// LocalStore keeps analytics records in the primary database when there is
// no Redis stream to carry them: the embedded default. It holds at most
// `analytics.retention` records; older ones are trimmed as new ones arrive,
// the same bound MAXLEN gives the Redis stream.
type LocalStore struct {
	db        *sqlstore.DB
	retention int64
}

// localLockKey serialises inserts on PostgreSQL, so that seq commits in
// order and a reader at "seq > N" never skips a late commit (the same gap
// rule as the event log). SQLite has one writer anyway.
const localLockKey = 7340582

// NewLocalStore creates the table if needed.
func NewLocalStore(ctx context.Context, db *sqlstore.DB, retention int64) (*LocalStore, error) {
	seq := "seq INTEGER PRIMARY KEY AUTOINCREMENT"
	if db.Kind == configs.KindPostgres {
		seq = "seq BIGSERIAL PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS analytics_log (` + seq + `, id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS consumer_offsets (group_name TEXT NOT NULL, source TEXT NOT NULL,
			position BIGINT NOT NULL, PRIMARY KEY (group_name, source))`,
	}
	for _, s := range stmts {
		if _, err := db.Primary.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("creating the local analytics store: %w", err)
		}
	}
	return &LocalStore{db: db, retention: max(retention, 1)}, nil
}

// localInsertRows is how many records one INSERT carries: two bound
// values each, far below SQLite's and PostgreSQL's limits on parameters.
const localInsertRows = 200

// Publish stores a batch and trims the store to its retention. A record
// stored twice (a retried batch) is kept once, so a retry needs no marker.
// Records go in multi-row INSERTs: one statement per record was most of the
// embedded default's cost per verification (SQLite parses and plans every
// statement).
func (l *LocalStore) Publish(ctx context.Context, evs []events.AnalyticsEvent, _ bool) error {
	return l.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if l.db.Kind == configs.KindPostgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", localLockKey); err != nil {
				return err
			}
		}
		var buf []byte
		var query strings.Builder
		args := make([]any, 0, 2*min(len(evs), localInsertRows))
		for start := 0; start < len(evs); start += localInsertRows {
			chunk := evs[start:min(start+localInsertRows, len(evs))]
			query.Reset()
			query.WriteString(`INSERT INTO analytics_log (id, payload) VALUES `)
			args = args[:0]
			for i := range chunk {
				var err error
				if buf, err = appendRecord(buf[:0], &chunk[i]); err != nil {
					return err
				}
				if i > 0 {
					query.WriteByte(',')
				}
				query.WriteString("(?, ?)")
				args = append(args, chunk[i].ID, string(buf))
			}
			query.WriteString(` ON CONFLICT (id) DO NOTHING`)
			if _, err := tx.ExecContext(ctx, query.String(), args...); err != nil {
				return fmt.Errorf("storing analytics records: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM analytics_log WHERE seq <= (SELECT MAX(seq) FROM analytics_log) - ?`, l.retention)
		return err
	})
}

// LocalConsumer is `keyline consume` without Redis: it reads the event log
// and the local analytics store by position, as a named group whose
// positions are kept in consumer_offsets, so a restarted consumer resumes
// where it stopped. A position is saved only after its lines were written:
// at-least-once, with each line's "id" for deduplication.
type LocalConsumer struct {
	db    *sqlstore.DB
	store *sqlstore.Store
	group string
	poll  time.Duration
}

// NewLocalConsumer reads db as group.
func NewLocalConsumer(ctx context.Context, db *sqlstore.DB, retention int64, group string) (*LocalConsumer, error) {
	if _, err := NewLocalStore(ctx, db, retention); err != nil {
		return nil, err
	}
	return &LocalConsumer{db: db, store: sqlstore.NewStore(db, nil, nil), group: group, poll: 200 * time.Millisecond}, nil
}

const (
	sourceEvents    = "events"
	sourceAnalytics = "analytics"
)

// Run prints until ctx ends. A new group starts at the beginning of what is
// retained, or (fromBeginning false) at the current end.
func (c *LocalConsumer) Run(ctx context.Context, fromBeginning bool, out io.Writer) error {
	w := bufio.NewWriter(out)
	pos, err := c.start(ctx, fromBeginning)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		n1, err := c.printEvents(ctx, w, pos)
		if err != nil {
			return err
		}
		n2, err := c.printAnalytics(ctx, w, pos)
		if err != nil {
			return err
		}
		if n1+n2 > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.poll):
		}
	}
	return nil
}

func (c *LocalConsumer) start(ctx context.Context, fromBeginning bool) (map[string]int64, error) {
	pos := map[string]int64{}
	for _, src := range []string{sourceEvents, sourceAnalytics} {
		var p int64
		err := c.db.Primary.QueryRowContext(ctx, `SELECT position FROM consumer_offsets WHERE group_name = ? AND source = ?`,
			c.group, src).Scan(&p)
		if err == nil {
			pos[src] = p
			continue
		}
		if !fromBeginning {
			q := "SELECT COALESCE(MAX(position), 0) FROM events"
			if src == sourceAnalytics {
				q = "SELECT COALESCE(MAX(seq), 0) FROM analytics_log"
			}
			if err := c.db.Primary.QueryRowContext(ctx, q).Scan(&p); err != nil {
				return nil, err
			}
		}
		pos[src] = p
		if err := c.save(ctx, src, p); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

func (c *LocalConsumer) save(ctx context.Context, source string, position int64) error {
	_, err := c.db.Primary.ExecContext(ctx, `INSERT INTO consumer_offsets (group_name, source, position) VALUES (?, ?, ?)
		ON CONFLICT (group_name, source) DO UPDATE SET position = EXCLUDED.position`, c.group, source, position)
	return err
}

func (c *LocalConsumer) printEvents(ctx context.Context, w *bufio.Writer, pos map[string]int64) (int, error) {
	recs, err := c.store.ReadAfter(ctx, nil, pos[sourceEvents], 500)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	for _, r := range recs {
		msg, err := outbox.ToMessage(r)
		if err != nil {
			return 0, err
		}
		_, _ = w.Write(msg.Payload)
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	pos[sourceEvents] = recs[len(recs)-1].Position
	return len(recs), c.save(ctx, sourceEvents, pos[sourceEvents])
}

func (c *LocalConsumer) printAnalytics(ctx context.Context, w *bufio.Writer, pos map[string]int64) (int, error) {
	rows, err := c.db.Primary.QueryContext(ctx, `SELECT seq, payload FROM analytics_log WHERE seq > ? ORDER BY seq LIMIT 500`,
		pos[sourceAnalytics])
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n, last := 0, pos[sourceAnalytics]
	for rows.Next() {
		var payload string
		if err := rows.Scan(&last, &payload); err != nil {
			return 0, err
		}
		_, _ = w.WriteString(payload)
		_ = w.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil || n == 0 {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	pos[sourceAnalytics] = last
	return n, c.save(ctx, sourceAnalytics, last)
}
