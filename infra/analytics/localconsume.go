package analytics

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/sqlstore"
)

// LocalConsumer is `keyline consume` without Redis: it reads the event log
// and the local analytics store by position, as a named group whose
// positions are kept in consumer_offsets, so a restarted consumer resumes
// where it stopped. A position is saved only after its lines were written:
// at-least-once, with each line's "id" for deduplication. Records retention
// trimmed before the group read them are counted (Lost) and logged.
type LocalConsumer struct {
	db      *sqlstore.DB
	store   *sqlstore.Store
	records *LocalStore
	group   string
	poll    time.Duration
	logger  *slog.Logger
	lost    atomic.Int64
}

// NewLocalConsumer reads db as group; losses are logged to logger (nil: not
// logged, still counted).
func NewLocalConsumer(ctx context.Context, db *sqlstore.DB, retention int64, group string, logger *slog.Logger) (*LocalConsumer, error) {
	records, err := NewLocalStore(ctx, db, retention)
	if err != nil {
		return nil, err
	}
	return &LocalConsumer{db: db, store: sqlstore.NewStore(db, nil, nil), records: records, group: group,
		poll: 200 * time.Millisecond, logger: logger}, nil
}

// Lost is how many analytics records retention trimmed before this group
// read them, since start.
func (c *LocalConsumer) Lost() int64 { return c.lost.Load() }

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
		switch {
		case src == sourceEvents && !fromBeginning:
			if err := c.db.Primary.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM events").Scan(&p); err != nil {
				return nil, err
			}
		case src == sourceAnalytics:
			// A new group starts at the oldest retained record (or after
			// the newest): what was trimmed before it existed is not its loss.
			first, last, err := c.records.Head(ctx)
			if err != nil {
				return nil, err
			}
			p = last
			if fromBeginning {
				p = max(first-1, 0)
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
	after := pos[sourceAnalytics]
	recs, err := c.records.ReadAfter(ctx, after, 500)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	reportLocalLoss(c.logger, &c.lost, Gap(after, recs), c.group)
	for _, r := range recs {
		_, _ = w.WriteString(r.Payload)
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	pos[sourceAnalytics] = recs[len(recs)-1].Position
	return len(recs), c.save(ctx, sourceAnalytics, pos[sourceAnalytics])
}

// localLossHint ends every loss log line of the local store's readers.
const localLossHint = "raise analytics.retention (the rows the local store keeps) or fix the reader that falls behind"

// reportLocalLoss counts n records trimmed before reader read them, and
// logs it at error level.
func reportLocalLoss(logger *slog.Logger, lost *atomic.Int64, n int64, reader string) {
	if n <= 0 {
		return
	}
	total := lost.Add(n)
	if logger != nil {
		logger.Error("analytics records lost: trimmed by analytics.retention before they were read", "lost", n,
			"lostTotal", total, "store", "analytics_log", "reader", reader, "hint", localLossHint)
	}
}
