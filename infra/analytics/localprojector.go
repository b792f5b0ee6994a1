package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// LocalProjector moves records from the local store (no Redis) into
// ClickHouse, with the Redis projector's guarantees:
//
//   - Resumable by position: its checkpoint is a row of
//     analytics_projection (name = ProjectorGroup), advanced only after
//     ClickHouse accepted the batch.
//   - Exactly once in effect: before each insert the batch's last position
//     is saved as the row's inflight mark. Records at or below that mark and
//     above the checkpoint may be in ClickHouse already (a crash, a failed
//     insert, a node that lost its lease mid-insert), so whoever reads them
//     next writes them as suspect (the writer's dedup check by event ID), as
//     it does records stored by a retried publish. Fresh records skip the
//     check.
//   - One projector at a time: the row is also a lease (owner, lease_until)
//     claimed and renewed in a transaction, so with several nodes on one
//     PostgreSQL each record is projected by one of them; when the owner
//     dies, another takes over once the lease has run out, starting at the
//     checkpoint. A restarted node of the same name takes its lease back at
//     once.
//   - Bounded: one batch of at most analytics.insertBatchSize records in
//     memory, read in chunks.
//   - Loss counted and logged: records retention trimmed before the
//     projector read them show as a gap in the dense positions (Lost).
type LocalProjector struct {
	store  *LocalStore
	db     *sqlstore.DB
	ch     AnalyticsWriter
	name   string
	owner  string
	batch  int
	flush  time.Duration
	poll   time.Duration
	lease  time.Duration
	logger *slog.Logger
	lost   atomic.Int64
	now    func() time.Time
}

// localLeaseFor is how long a claim lasts without renewal: the longest a
// dead owner's records wait before another node takes over. It must be well
// above one insert's duration, since the owner renews between inserts.
const localLeaseFor = 30 * time.Second

// checkpointTimeout bounds saving a checkpoint after a stop was asked for.
const checkpointTimeout = 5 * time.Second

// NewLocalProjector builds the projector of store into ch, as node owner.
func NewLocalProjector(store *LocalStore, ch AnalyticsWriter, owner string, cfg configs.Analytics, logger *slog.Logger) *LocalProjector {
	return &LocalProjector{store: store, db: store.db, ch: ch, name: ProjectorGroup, owner: owner,
		batch: max(cfg.InsertBatchSize, 1), flush: time.Duration(max(cfg.InsertFlushIntervalMs, 1)) * time.Millisecond,
		poll: 50 * time.Millisecond, lease: localLeaseFor, logger: logger, now: time.Now}
}

// Lost is how many records retention trimmed before this projector read
// them, since start. Each detection is also logged at error level.
func (p *LocalProjector) Lost() int64 { return p.lost.Load() }

// errLeaseLost: another node claimed the projection while this one worked.
var errLeaseLost = errors.New("the analytics projection was claimed by another node")

// projectionState is this projector's row.
type projectionState struct {
	position, inflight int64
}

// ensureRow creates the table and the projector's row. A new row starts at
// the oldest retained record: what was trimmed before ClickHouse was
// configured is not this projector's loss.
func (p *LocalProjector) ensureRow(ctx context.Context) error {
	if _, err := p.db.Primary.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS analytics_projection (name TEXT PRIMARY KEY,
		position BIGINT NOT NULL, inflight BIGINT NOT NULL, owner TEXT NOT NULL, lease_until BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating analytics_projection: %w", err)
	}
	first, _, err := p.store.Head(ctx)
	if err != nil {
		return err
	}
	start := max(first-1, 0)
	_, err = p.db.Primary.ExecContext(ctx, `INSERT INTO analytics_projection (name, position, inflight, owner, lease_until)
		VALUES (?, ?, ?, '', 0) ON CONFLICT (name) DO NOTHING`, p.name, start, start)
	return err
}

// claim takes or renews the lease; ok false means another node holds it.
func (p *LocalProjector) claim(ctx context.Context) (st projectionState, ok bool, err error) {
	now := p.now().UnixMilli()
	err = p.db.Primary.QueryRowContext(ctx, `UPDATE analytics_projection SET owner = ?, lease_until = ?
		WHERE name = ? AND (owner = ? OR lease_until < ?) RETURNING position, inflight`,
		p.owner, now+p.lease.Milliseconds(), p.name, p.owner, now).Scan(&st.position, &st.inflight)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	return st, err == nil, err
}

// update runs set on the row in a transaction, renewing the lease, only
// while this node holds it.
func (p *LocalProjector) update(ctx context.Context, set string, arg int64) error {
	return p.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE analytics_projection SET `+set+` = ?, lease_until = ? WHERE name = ? AND owner = ?`,
			arg, p.now().Add(p.lease).UnixMilli(), p.name, p.owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(errLeaseLost, err)
		}
		return nil
	})
}

// Run projects until ctx ends or an error occurs; the supervisor restarts
// it, and the restart begins at the checkpoint, suspect up to the inflight
// mark. A stop is not an error: whatever failed because ctx ended is not
// reported.
func (p *LocalProjector) Run(ctx context.Context) error {
	err := p.run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (p *LocalProjector) run(ctx context.Context) error {
	if err := p.ensureRow(ctx); err != nil {
		return err
	}
	var st projectionState
	for {
		var ok bool
		var err error
		if st, ok, err = p.claim(ctx); err != nil {
			return err
		}
		if ok {
			break
		}
		// Another node projects; wait for its lease to run out.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.lease / 10):
		}
	}
	p.logger.Debug("analytics projection claimed", "owner", p.owner, "position", st.position, "inflight", st.inflight)
	pos, suspectUpTo := st.position, st.inflight
	lastRenew := p.now()
	for ctx.Err() == nil {
		recs, err := p.collect(ctx, pos)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(recs) == 0 {
			// Idle: keep the lease.
			if p.now().Sub(lastRenew) > p.lease/3 {
				if err := p.update(ctx, "position", pos); err != nil {
					return err
				}
				lastRenew = p.now()
			}
			continue
		}
		end := recs[len(recs)-1].Position
		suspect := recs[0].Position <= suspectUpTo
		evs := make([]events.AnalyticsEvent, 0, len(recs))
		for _, r := range recs {
			suspect = suspect || r.Retry
			ev, err := r.Event()
			if err != nil {
				// A record this build cannot read would block the store
				// forever; it is logged and skipped.
				p.logger.Error("skipping unreadable analytics record", "position", r.Position, "error", err)
				continue
			}
			evs = append(evs, ev)
		}
		// The mark first: should this insert land and the checkpoint not,
		// whoever reads these records next checks them.
		if err := p.update(ctx, "inflight", end); err != nil {
			return err
		}
		if err := p.write(ctx, evs, suspect); err != nil {
			return err
		}
		// ClickHouse has the batch: its checkpoint is saved even when a
		// stop arrived meanwhile, or the restart would count these records
		// as lost once retention trims them.
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointTimeout)
		err = p.update(saveCtx, "position", end)
		cancel()
		if err != nil {
			return err
		}
		pos, lastRenew = end, p.now()
	}
	return nil
}

// write inserts evs; a suspect batch in pieces small enough for the
// writer's dedup check.
func (p *LocalProjector) write(ctx context.Context, evs []events.AnalyticsEvent, suspect bool) error {
	step := max(len(evs), 1)
	if suspect {
		step = suspectBatch
	}
	for i := 0; i < len(evs); i += step {
		part := evs[i:min(i+step, len(evs))]
		if _, err := p.ch.WriteAnalytics(ctx, part, suspect); err != nil {
			return fmt.Errorf("writing %d analytics records: %w", len(part), err)
		}
	}
	return nil
}

// collect reads up to batch records after pos, in chunks, waiting at most
// one flush interval after the first one for the batch to fill. An idle
// poll returns nothing.
func (p *LocalProjector) collect(ctx context.Context, pos int64) ([]Record, error) {
	var out []Record
	var deadline time.Time
	for len(out) < p.batch {
		recs, err := p.store.ReadAfter(ctx, pos, min(p.batch-len(out), readChunk))
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			reportLocalLoss(p.logger, &p.lost, Gap(pos, recs), "clickhouse projector")
			if out == nil {
				out = make([]Record, 0, min(p.batch, max(len(recs), readChunk)))
				deadline = p.now().Add(p.flush)
			}
			out = append(out, recs...)
			pos = recs[len(recs)-1].Position
			if len(recs) == min(p.batch-len(out)+len(recs), readChunk) {
				continue // a full chunk: there may be more at once
			}
		}
		if out != nil && !p.now().Before(deadline) {
			break
		}
		wait := p.poll
		if out == nil {
			wait = 4 * p.poll // idle
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if out == nil {
			return nil, nil
		}
	}
	return out, nil
}
