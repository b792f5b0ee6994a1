package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// On SQLite the appender keeps one connection of the pool to itself while
// appends keep coming. A SQLite connection's page cache holds the B-tree
// pages its transactions touched, and it is dropped whole (pager_reset)
// when the connection's next transaction starts after another connection
// wrote. Taking whichever connection the pool handed out, the appender
// mostly found a cache another writer had made stale, and the readers in
// turn got connections with the appender's large cache to drop: pages read
// again, and freed again, which in modernc's allocator means an munmap for
// every few pages. Held, its cache lives from group to group (no other
// connection writes in between, under load), and the readers' connections
// only ever hold the few pages they read.
//
// The statements every group runs the same (the inline projections'
// INSERTs) are prepared once on that connection and kept with it, instead
// of parsed again in each group.
//
// After appendConnIdle without a group the connection goes back to the
// pool, its statements closed, so that an idle store holds nothing and the
// pool can close it.
const appendConnIdle = time.Second

// maxAppendStmts bounds the statements kept: the inline INSERTs are a few
// fixed texts per table, so reaching it means texts that vary, and the
// cache starts over rather than grow.
const maxAppendStmts = 64

// appendConn is the connection the appender holds, if any.
type appendConn struct {
	mu    sync.Mutex
	conn  *bun.Conn
	stmts map[string]*sql.Stmt // prepared on conn, by text
	used  time.Time            // when the last group on conn ended
	timer *time.Timer
}

// statementApplier is an Applier that takes kept statements
// (projections.LiveApplier).
type statementApplier interface {
	ApplyWithStatements(ctx context.Context, tx bun.Tx, recs []events.Recorded,
		stmts func(ctx context.Context, query string) (*sql.Stmt, error)) error
}

// appendStmtsKey holds, in the context of a group's transaction on the
// appender's connection, that connection's appendConn.
type appendStmtsKey struct{}

// keptStmts returns the appender's connection when ctx is that of a
// group's transaction on it, and nil otherwise.
func keptStmts(ctx context.Context) *appendConn {
	h, _ := ctx.Value(appendStmtsKey{}).(*appendConn)
	return h
}

// apply hands recs to the applier: pipelined (PostgreSQL), without a
// checkpoint read when the applier can; on the SQLite appender's
// connection, with its kept statements when the applier takes them.
func (s *Store) apply(ctx context.Context, tx bun.Tx, recs []events.Recorded, pipelined bool) error {
	if na, ok := s.applier.(newApplier); ok && pipelined {
		return na.ApplyNew(ctx, tx, recs)
	}
	if h := keptStmts(ctx); h != nil {
		if a, ok := s.applier.(statementApplier); ok {
			return a.ApplyWithStatements(ctx, tx, recs, h.stmt)
		}
	}
	return s.applier.Apply(ctx, tx, recs)
}

// stmt returns the statement for query prepared on the held connection. It
// runs inside appendTx, under h.mu.
func (h *appendConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := h.stmts[query]; ok {
		return st, nil
	}
	if len(h.stmts) >= maxAppendStmts {
		h.closeStmts()
	}
	st, err := h.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if h.stmts == nil {
		h.stmts = map[string]*sql.Stmt{}
	}
	h.stmts[query] = st
	return st, nil
}

func (h *appendConn) closeStmts() {
	for q, st := range h.stmts {
		_ = st.Close()
		delete(h.stmts, q)
	}
}

// release closes the kept statements and hands the connection back.
func (h *appendConn) release() {
	h.closeStmts()
	_ = h.conn.Close()
	h.conn = nil
}

// appendTx runs one group's transaction: on the appender's own connection
// on SQLite, as WithAppendLock does otherwise.
func (s *Store) appendTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if s.db.Kind != configs.KindSQLite {
		return s.WithAppendLock(ctx, fn)
	}
	h := &s.appendConn
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		c, err := s.db.Primary.Conn(ctx)
		if err != nil {
			return err
		}
		h.conn = &c
		if h.timer == nil {
			h.timer = time.AfterFunc(appendConnIdle, h.releaseIdle)
		} else {
			h.timer.Reset(appendConnIdle)
		}
	}
	err := h.conn.RunInTx(context.WithValue(ctx, appendStmtsKey{}, h), nil, fn)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		h.release()
	}
	h.used = time.Now()
	return err
}

// releaseIdle hands the connection back to the pool once no group has used
// it for appendConnIdle, and otherwise looks again when that time is up.
func (h *appendConn) releaseIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		return
	}
	if idle := time.Since(h.used); idle < appendConnIdle {
		h.timer.Reset(appendConnIdle - idle)
		return
	}
	h.release()
}

// keptInsert is the single-row INSERT of one event, kept on the appender's
// connection: OR FAIL like every write of a group (insertVerb).
const keptInsert = "INSERT OR FAIL INTO events (position, stream_id, stream_version, name, version, payload, meta, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

// insertKept is insert on the appender's connection: each event through
// the kept single-row INSERT, its values bound, where the multi-row text
// (bun writes the values into it) was parsed again in every group.
func (s *Store) insertKept(ctx context.Context, h *appendConn, recs []events.Recorded, metas []string) error {
	st, err := h.stmt(ctx, keptInsert)
	if err != nil {
		return fmt.Errorf("inserting %d events: %w", len(recs), err)
	}
	for i, r := range recs {
		if _, err := st.ExecContext(ctx, r.Position, r.StreamID, r.StreamVersion, r.Name, r.Version, string(r.Payload), metas[i],
			r.OccurredAt.UnixMilli()); err != nil {
			if isUniqueViolation(err) {
				return events.ErrVersionConflict
			}
			return fmt.Errorf("inserting %d events: %w", len(recs), err)
		}
	}
	return nil
}

// maxKeptHeads is the most streams a group's heads query is kept for: one
// text per count, and groups are mostly of a few commands.
const maxKeptHeads = 16

// headsKept runs the heads query (see heads) on the appender's connection
// with the stream IDs bound, through a statement kept per count of IDs; ok
// is false elsewhere (PostgreSQL, other transactions) and for a group of
// more than maxKeptHeads streams, left to heads.
func (s *Store) headsKept(ctx context.Context, ids []string) (rows *sql.Rows, ok bool, err error) {
	h := keptStmts(ctx)
	if h == nil || len(ids) > maxKeptHeads {
		return nil, false, nil
	}
	st, err := h.stmt(ctx, `SELECT 0, '', COALESCE(MAX(position), 0) FROM events
		 UNION ALL
		 SELECT 1, stream_id, MAX(stream_version) FROM events WHERE stream_id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) GROUP BY stream_id`)
	if err != nil {
		return nil, true, err
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err = st.QueryContext(ctx, args...)
	return rows, true, err
}
