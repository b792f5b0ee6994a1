package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/outbox"
	"github.com/keyline/keyline/infra/sqlstore"
)

// AuditProjection is the name `keyline replay --projection` knows it by.
const AuditProjection = "audit"

// auditBatch is how many log events one audit insert carries.
const auditBatch = 1000

// Audit projects every management event of the log into audit_log_v1.
//
// It reads the log by position (gap-free, see sqlstore) and checkpoints in
// ClickHouse itself: the highest position in audit_log_v1. Rows and
// checkpoint therefore cannot disagree, and it needs no leader: every node
// may run it; a position inserted twice (two nodes, or a crash between
// insert and the next read) collapses in the ReplacingMergeTree, and
// readers use FINAL.
type Audit struct {
	store    *sqlstore.Store
	db       *clickhouse.DB
	interval time.Duration
	logger   *slog.Logger
	wake     chan struct{}
}

// NewAudit builds the audit projector; it polls the log every
// projections.pollIntervalMs and at once after a local append.
func NewAudit(store *sqlstore.Store, db *clickhouse.DB, cfg configs.Projections, logger *slog.Logger) *Audit {
	a := &Audit{store: store, db: db, interval: time.Duration(max(cfg.PollIntervalMs, 10)) * time.Millisecond,
		logger: logger, wake: make(chan struct{}, 1)}
	store.OnCommit(func([]events.Recorded) {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	})
	return a
}

// AuditFor is NewAudit when ClickHouse is configured (db not nil), and nil
// otherwise.
func AuditFor(store *sqlstore.Store, db *clickhouse.DB, cfg configs.Projections, logger *slog.Logger) *Audit {
	if db == nil {
		return nil
	}
	return NewAudit(store, db, cfg, logger)
}

// Run follows the log until ctx ends.
func (a *Audit) Run(ctx context.Context) error {
	head, err := a.db.AuditHead(ctx)
	if err != nil {
		return err
	}
	ticker := time.NewTicker(a.interval)
	defer ticker.Stop()
	for {
		if head, err = a.catchUp(ctx, head, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-a.wake:
		}
	}
}

// catchUp projects every event after position `after` and returns the new
// head.
func (a *Audit) catchUp(ctx context.Context, after int64, progress func(int64)) (int64, error) {
	for {
		recs, err := a.store.ReadAfter(ctx, nil, after, auditBatch)
		if err != nil || len(recs) == 0 {
			return after, err
		}
		rows := make([]clickhouse.AuditRow, len(recs))
		for i, r := range recs {
			rows[i] = clickhouse.AuditRowOf(r, outbox.EventID(r.Position))
		}
		if err := a.db.WriteAudit(ctx, rows); err != nil {
			return after, err
		}
		after = recs[len(recs)-1].Position
		if progress != nil {
			progress(int64(len(recs)))
		}
	}
}

// Rebuild empties audit_log_v1 and projects the whole log again; it
// returns how many events it wrote. A projector running meanwhile on
// another node may re-add rows during the rebuild; they are the same rows.
func (a *Audit) Rebuild(ctx context.Context, progress func(done, total int64)) (int64, error) {
	total, err := a.store.Count(ctx, nil, 0)
	if err != nil {
		return 0, err
	}
	if err := a.db.TruncateAudit(ctx); err != nil {
		return 0, err
	}
	var done int64
	_, err = a.catchUp(ctx, 0, func(n int64) {
		done += n
		if progress != nil {
			progress(done, total)
		}
	})
	return done, err
}
