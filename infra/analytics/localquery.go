package analytics

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// The tables the analytics query API reads without ClickHouse (names and
// columns are handlers/analyticsql's LocalVerificationsTable and
// LocalRatelimitsTable; keep the two in step). A row counts, in `records`,
// the records that agree on every column but request_id and latency, down
// to the millisecond, so the store answers counts, sums and time buckets
// exactly while it writes far fewer rows than records under load (a
// benchmark's records of one key collapse to one row per millisecond).
// `dims` is a digest of the row's key columns: the unique key stays short
// however long a tag or an identifier is.
const (
	localVerificationsTable = "key_verifications_local_v1"
	localRatelimitsTable    = "ratelimits_local_v1"
	localQueryState         = "analytics_local_state"
)

// LocalQuery projects the local store's records into the query tables:
// asynchronously (the request path never waits for it), in batches, by
// position. Each batch is one transaction that adds its counts and moves
// the checkpoint, so a crash or a restart never counts a record twice or
// skips one; on PostgreSQL the transaction takes an advisory lock and
// checks the checkpoint, so several nodes on one database each project a
// record once between them.
//
// The tables are bounded: rows older than any query may see are deleted,
// and past maxRows rows the oldest are deleted too; the instant up to which
// that happened is saved as complete_since, and queries then start after
// it (the analytics query API refuses an explicit range reaching before).
// Records the local store trimmed before they were projected are counted
// (Lost), logged, and move complete_since the same way.
type LocalQuery struct {
	db        *sqlstore.DB
	source    RecordReader
	batch     int
	poll      time.Duration
	maxRows   int64
	logger    *slog.Logger
	stmts     *stmtCache
	lastTrim  time.Time
	projected atomic.Int64
	lost      atomic.Int64
}

// localQueryLockKey serialises projector batches and trims on PostgreSQL.
const localQueryLockKey = 7340583

// localQueryKeep is how far back rows are kept: the query retention (30
// days) counted from the start of its month, which is what the monthly
// rollups reach back to, plus a day.
const localQueryKeep = 63 * 24 * time.Hour

// NewLocalQuery creates the query tables if needed. maxRows bounds each
// table (analytics.retention).
func NewLocalQuery(ctx context.Context, db *sqlstore.DB, maxRows int64, logger *slog.Logger) (*LocalQuery, error) {
	if err := createLocalQueryTables(ctx, db); err != nil {
		return nil, err
	}
	l := &LocalQuery{db: db, source: logReader{db: db}, batch: 5000, poll: 250 * time.Millisecond,
		maxRows: max(maxRows, 1), logger: logger, stmts: newStmtCache(db.Primary.DB, db.Kind)}
	if err := l.stmts.prepare(ctx, []string{localQuerySaveState}, &localVerificationRows, &localRatelimitRows); err != nil {
		return nil, fmt.Errorf("creating the local query tables: %w", err)
	}
	return l, nil
}

func createLocalQueryTables(ctx context.Context, db *sqlstore.DB) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + localVerificationsTable + ` (time BIGINT NOT NULL, dims TEXT NOT NULL,
			workspace_id TEXT NOT NULL, key_space_id TEXT NOT NULL, key_id TEXT NOT NULL, identity_id TEXT NOT NULL,
			external_id TEXT NOT NULL, region TEXT NOT NULL, outcome TEXT NOT NULL, tags TEXT NOT NULL,
			spent_credits BIGINT NOT NULL, records BIGINT NOT NULL, latency_sum DOUBLE PRECISION NOT NULL,
			PRIMARY KEY (time, dims))`,
		`CREATE INDEX IF NOT EXISTS ` + localVerificationsTable + `_ws ON ` + localVerificationsTable + ` (workspace_id, time)`,
		`CREATE TABLE IF NOT EXISTS ` + localRatelimitsTable + ` (time BIGINT NOT NULL, dims TEXT NOT NULL,
			workspace_id TEXT NOT NULL, namespace_id TEXT NOT NULL, identifier TEXT NOT NULL, region TEXT NOT NULL,
			passed BIGINT NOT NULL, records BIGINT NOT NULL, latency_sum DOUBLE PRECISION NOT NULL,
			PRIMARY KEY (time, dims))`,
		`CREATE INDEX IF NOT EXISTS ` + localRatelimitsTable + `_ws ON ` + localRatelimitsTable + ` (workspace_id, time)`,
		`CREATE TABLE IF NOT EXISTS ` + localQueryState + ` (name TEXT PRIMARY KEY, position BIGINT NOT NULL,
			complete_since BIGINT NOT NULL)`,
	}
	for _, s := range stmts {
		if _, err := db.Primary.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the local analytics query tables: %w", err)
		}
	}
	return nil
}

// Projected is how many records were added to the query tables since start.
func (l *LocalQuery) Projected() int64 { return l.projected.Load() }

// Lost is how many records the local store dropped before they were
// projected, since start.
func (l *LocalQuery) Lost() int64 { return l.lost.Load() }

// Run projects until ctx ends. Errors are logged and retried: the records
// wait in the local store.
func (l *LocalQuery) Run(ctx context.Context) error {
	var lastErr time.Time
	for ctx.Err() == nil {
		n, err := l.Step(ctx)
		if err == nil {
			err = l.trim(ctx, time.Now())
		}
		if err != nil && ctx.Err() == nil && time.Since(lastErr) > 5*time.Second {
			lastErr = time.Now()
			l.logger.Error("local analytics query projection failed; retrying", "error", err)
		}
		if n == l.batch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.poll):
		}
	}
	return nil
}

type verificationRow struct {
	time                                                                int64
	workspace, keySpace, key, identity, external, region, outcome, tags string
	spent                                                               int64
}

type ratelimitRow struct {
	time                                     int64
	workspace, namespace, identifier, region string
	passed                                   int64
}

type localSums struct {
	records int64
	latency float64
}

// localCounts are a batch's records summed by query-table row.
type localCounts struct {
	ver map[verificationRow]localSums
	rl  map[ratelimitRow]localSums
}

func newLocalCounts() *localCounts {
	return &localCounts{ver: map[verificationRow]localSums{}, rl: map[ratelimitRow]localSums{}}
}

// countRecords sums evs by row.
func countRecords(evs []events.AnalyticsEvent) *localCounts {
	c := newLocalCounts()
	for i := range evs {
		c.add(&evs[i])
	}
	return c
}

func (c *localCounts) add(ev *events.AnalyticsEvent) {
	switch {
	case ev.Verification != nil:
		v := ev.Verification
		tags := "[]"
		if v.Tags != nil {
			b, _ := json.Marshal(v.Tags)
			tags = string(b)
		}
		k := verificationRow{ev.Time, ev.WorkspaceID, v.KeySpaceID, v.KeyID, v.IdentityID, v.ExternalID, ev.Region,
			v.Outcome, tags, v.SpentCredits}
		s := c.ver[k]
		c.ver[k] = localSums{s.records + 1, s.latency + v.LatencyMs}
	case ev.Ratelimit != nil:
		d := ev.Ratelimit
		var passed int64
		if d.Passed {
			passed = 1
		}
		k := ratelimitRow{ev.Time, ev.WorkspaceID, d.NamespaceID, d.Identifier, ev.Region, passed}
		s := c.rl[k]
		c.rl[k] = localSums{s.records + 1, s.latency + d.LatencyMs}
	}
}

// Step projects the next batch and reports how many records it read. It
// only has work when LocalStore.Publish did not count the records itself
// (see fold): records stored before the tables existed, or while another
// node's step held the checkpoint.
func (l *LocalQuery) Step(ctx context.Context) (int, error) {
	pos, _, _, err := l.state(ctx, l.db.Primary)
	if err != nil {
		return 0, err
	}
	// Read before the transaction, which holds SQLite's one write lock:
	// nothing to do, the common case, takes no lock at all.
	recs, err := l.source.ReadAfter(ctx, pos, l.batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	var lost, complete int64
	err = l.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		cur, compl, found, err := l.state(ctx, tx)
		if err != nil {
			return err
		}
		if cur != pos {
			// Another step, or a publish, moved the checkpoint since the
			// read: read again under the lock, which keeps it still.
			if recs, err = l.source.ReadAfter(ctx, cur, l.batch); err != nil || len(recs) == 0 {
				return err
			}
		}
		c := newLocalCounts()
		var firstTime int64
		for i, r := range recs {
			ev, err := r.Event()
			if err != nil {
				l.logger.Warn("skipping an undecodable local analytics record", "position", r.Position, "error", err)
				continue
			}
			if i == 0 {
				firstTime = ev.Time
			}
			c.add(&ev)
		}
		// A gap before the first record is a loss when the store no
		// longer holds the positions in between (it trims past its
		// bound); a new checkpoint starting anywhere but at the beginning
		// did not see what came before.
		if recs[0].Position > cur+1 {
			oldest, _, err := l.source.Head(ctx)
			if err != nil {
				return err
			}
			if oldest > cur+1 && (found || oldest > 1) {
				lost = oldest - cur - 1
			}
		}
		if lost > 0 || (!found && recs[0].Position > 1) {
			compl = max(compl, firstTime)
		}
		complete = compl
		if err := l.addCounts(ctx, tx, c); err != nil {
			return err
		}
		return l.saveState(ctx, tx, recs[len(recs)-1].Position, complete)
	})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	if lost > 0 {
		l.lost.Add(lost)
		l.logger.Error("analytics records lost before the local query projection read them", "lost", lost,
			"hint", "raise analytics.retention", "completeSince", time.UnixMilli(complete).UTC())
	}
	l.projected.Add(int64(len(recs)))
	return len(recs), nil
}

// fold counts c, the records LocalStore.Publish stores in tx at the n
// positions after after, when the checkpoint is at after: the tables then
// move with the store in one transaction, exactly once. Otherwise (the
// checkpoint lags) it leaves them to Step and reports false.
func (l *LocalQuery) fold(ctx context.Context, tx bun.Tx, after, n int64, c *localCounts) (bool, error) {
	if err := l.lock(ctx, tx); err != nil {
		return false, err
	}
	pos, complete, _, err := l.state(ctx, tx)
	if err != nil || pos != after {
		return false, err
	}
	if err := l.addCounts(ctx, tx, c); err != nil {
		return false, err
	}
	return true, l.saveState(ctx, tx, after+n, complete)
}

func (l *LocalQuery) inTx(ctx context.Context, fn func(context.Context, bun.Tx) error) error {
	return l.db.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := l.lock(ctx, tx); err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

// lock serialises steps, folds and trims on PostgreSQL; SQLite has one
// writer anyway.
func (l *LocalQuery) lock(ctx context.Context, tx bun.Tx) error {
	if l.db.Kind != configs.KindPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", localQueryLockKey)
	return err
}

func (l *LocalQuery) state(ctx context.Context, db bun.IDB) (pos, complete int64, found bool, err error) {
	err = db.QueryRowContext(ctx, `SELECT position, complete_since FROM `+localQueryState+` WHERE name = 'query'`).Scan(&pos, &complete)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	return pos, complete, err == nil, err
}

func (l *LocalQuery) saveState(ctx context.Context, tx bun.Tx, pos, complete int64) error {
	return l.stmts.exec(ctx, tx.Tx, localQuerySaveState, pos, complete)
}

var localQuerySaveState = `INSERT INTO ` + localQueryState + ` (name, position, complete_since) VALUES ('query', ?, ?)
		ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, complete_since = EXCLUDED.complete_since`

// CompleteSince is the oldest instant whose records the query tables hold
// completely (zero: no loss yet).
func (l *LocalQuery) CompleteSince(ctx context.Context) (time.Time, error) {
	return localCompleteSince(ctx, l.db)
}

func localCompleteSince(ctx context.Context, db *sqlstore.DB) (time.Time, error) {
	var ms int64
	err := db.Primary.QueryRowContext(ctx, `SELECT COALESCE(MAX(complete_since), 0) FROM `+localQueryState).Scan(&ms)
	if err != nil || ms == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0}) // no field holds NUL: the parts cannot run together
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// addsTo is the ON CONFLICT clause that adds a row's sums to the row
// already there.
func addsTo(table string) string {
	return ` ON CONFLICT (time, dims) DO UPDATE SET records = ` + table + `.records + EXCLUDED.records,
		latency_sum = ` + table + `.latency_sum + EXCLUDED.latency_sum`
}

var (
	localVerificationRows = multiRow{prefix: `INSERT INTO ` + localVerificationsTable + ` (time, dims, workspace_id, key_space_id,
		key_id, identity_id, external_id, region, outcome, tags, spent_credits, records, latency_sum) VALUES `,
		suffix: addsTo(localVerificationsTable), width: 13}
	localRatelimitRows = multiRow{prefix: `INSERT INTO ` + localRatelimitsTable + ` (time, dims, workspace_id, namespace_id,
		identifier, region, passed, records, latency_sum) VALUES `,
		suffix: addsTo(localRatelimitsTable), width: 9}
)

// addCounts adds c to the tables.
func (l *LocalQuery) addCounts(ctx context.Context, tx bun.Tx, c *localCounts) error {
	args := make([]any, 0, 13*max(len(c.ver), len(c.rl)))
	for k, s := range c.ver {
		dims := digest(k.workspace, k.keySpace, k.key, k.identity, k.external, k.region, k.outcome, k.tags, strconv.FormatInt(k.spent, 10))
		args = append(args, k.time, dims, k.workspace, k.keySpace, k.key, k.identity, k.external, k.region, k.outcome, k.tags,
			k.spent, s.records, s.latency)
	}
	if err := l.stmts.execRows(ctx, tx.Tx, &localVerificationRows, args); err != nil {
		return err
	}
	args = args[:0]
	for k, s := range c.rl {
		dims := digest(k.workspace, k.namespace, k.identifier, k.region, strconv.FormatInt(k.passed, 10))
		args = append(args, k.time, dims, k.workspace, k.namespace, k.identifier, k.region, k.passed, s.records, s.latency)
	}
	return l.stmts.execRows(ctx, tx.Tx, &localRatelimitRows, args)
}

// localTrimEvery is how often the tables are checked against their bounds:
// finding the maxRows-th newest row reads that many index entries, too much
// for every batch.
const localTrimEvery = time.Minute

// trim deletes rows older than any query may see, and the oldest rows past
// maxRows (moving complete_since past them).
func (l *LocalQuery) trim(ctx context.Context, now time.Time) error {
	if now.Sub(l.lastTrim) < localTrimEvery {
		return nil
	}
	l.lastTrim = now
	return l.Trim(ctx, now)
}

// Trim applies the bounds now.
func (l *LocalQuery) Trim(ctx context.Context, now time.Time) error {
	return l.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		pos, complete, _, err := l.state(ctx, tx)
		if err != nil {
			return err
		}
		moved := false
		for _, table := range []string{localVerificationsTable, localRatelimitsTable} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE time < ?`, now.Add(-localQueryKeep).UnixMilli()); err != nil {
				return err
			}
			var cut int64
			err := tx.QueryRowContext(ctx, `SELECT time FROM `+table+` ORDER BY time DESC LIMIT 1 OFFSET ?`, l.maxRows).Scan(&cut)
			if err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE time <= ?`, cut); err != nil {
				return err
			}
			if cut+1 > complete {
				complete, moved = cut+1, true
			}
		}
		if moved {
			l.logger.Warn("local analytics query tables trimmed at their bound; older data is no longer queryable",
				"maxRows", l.maxRows, "completeSince", time.UnixMilli(complete).UTC(), "hint", "raise analytics.retention")
			return l.saveState(ctx, tx, pos, complete)
		}
		return nil
	})
}
