package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
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
// After appendConnIdle without a group the connection goes back to the
// pool, so that an idle store holds nothing and the pool can close it.
const appendConnIdle = time.Second

// appendConn is the connection the appender holds, if any.
type appendConn struct {
	mu    sync.Mutex
	conn  *bun.Conn
	used  time.Time // when the last group on conn ended
	timer *time.Timer
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
	err := h.conn.RunInTx(ctx, nil, fn)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		_ = h.conn.Close()
		h.conn = nil
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
	_ = h.conn.Close()
	h.conn = nil
}
