package projections_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// The harness runs events through the two ways read models are built: the
// inline Runner.Apply of every append, and Runner.Rebuild, the bulk replay
// of `keyline replay`. Every projection test states the rows it expects once
// and the harness checks them after each way, so the two cannot drift apart.

// epoch is the occurred_at of position 1; position n happens n ms later, so
// timestamps in expected rows are epochMs + position.
var epoch = time.UnixMilli(1_700_000_000_000)

const epochMs = int64(1_700_000_000_000)

// at is the occurred_at, in milliseconds, of the event at position pos.
func at(pos int64) int64 { return epochMs + pos }

func ptr[T any](v T) *T { return &v }

// memLog is an in-memory event log over one SQLite connection: it is the
// projections.Log the runner reads from during Setup and Rebuild.
type memLog struct {
	db   *bun.DB
	recs []events.Recorded
}

func (l *memLog) ReadAfter(_ context.Context, _ bun.IDB, after int64, limit int) ([]events.Recorded, error) {
	var out []events.Recorded
	for _, r := range l.recs {
		if r.Position > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *memLog) Count(_ context.Context, _ bun.IDB, after int64) (int64, error) {
	var n int64
	for _, r := range l.recs {
		if r.Position > after {
			n++
		}
	}
	return n, nil
}

func (l *memLog) WithAppendLock(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return l.db.RunInTx(ctx, nil, fn)
}

type harness struct {
	t      *testing.T
	db     *bun.DB
	log    *memLog
	runner *projections.Runner
}

var dbSeq atomic.Int64

// newHarness opens a private in-memory SQLite database with every
// projection set up at the code's version.
func newHarness(t *testing.T) *harness {
	t.Helper()
	name := fmt.Sprintf("file:projections_%d?mode=memory&cache=shared", dbSeq.Add(1))
	sqldb, err := sql.Open(sqliteshim.ShimName, name)
	if err != nil {
		t.Fatal(err)
	}
	// One connection: an in-memory database lives as long as a connection
	// holds it, and the runner's transactions must all see the same one.
	sqldb.SetMaxOpenConns(1)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	t.Cleanup(func() { _ = db.Close() })
	h := &harness{t: t, db: db, log: &memLog{db: db}, runner: projections.NewRunner(projections.All())}
	if err := h.runner.Setup(context.Background(), h.log); err != nil {
		t.Fatal(err)
	}
	return h
}

// apply appends evs, each on its own stream, and folds them in with
// Runner.Apply in one transaction, as one append does.
func (h *harness) apply(evs ...events.Event) {
	h.t.Helper()
	h.applyLater(0, evs...)
}

// applyLater is apply with the events stamped later by d than apply
// stamps them (epoch plus their position in milliseconds): the clock of a
// projection that keys on event time moves on.
func (h *harness) applyLater(d time.Duration, evs ...events.Event) {
	h.t.Helper()
	recs := make([]events.Recorded, len(evs))
	for i, e := range evs {
		payload, err := json.Marshal(e)
		if err != nil {
			h.t.Fatal(err)
		}
		pos := int64(len(h.log.recs) + 1)
		recs[i] = events.Recorded{Position: pos, StreamID: fmt.Sprintf("s-%d", pos), StreamVersion: 1,
			Name: e.EventName(), Version: e.EventVersion(), Payload: payload, OccurredAt: epoch.Add(time.Duration(pos)*time.Millisecond + d)}
		h.log.recs = append(h.log.recs, recs[i])
	}
	h.applyRecorded(recs)
}

func (h *harness) applyRecorded(recs []events.Recorded) {
	h.t.Helper()
	err := h.db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		return h.runner.Apply(ctx, tx, recs)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// expect checks the read model with check after the inline fold, after the
// same events were delivered again (they must change nothing), and after a
// bulk replay of the whole log, which must also reproduce every table byte
// for byte.
func (h *harness) expect(check func(t *testing.T, db bun.IDB)) {
	h.t.Helper()
	h.t.Run("inline", func(t *testing.T) { check(t, h.db) })
	live := h.dump()
	h.applyRecorded(h.log.recs)
	h.t.Run("redelivered", func(t *testing.T) {
		check(t, h.db)
		assertSameDump(t, live, h.dump())
	})
	h.t.Run("applied as new", func(t *testing.T) {
		// The pipelined appends' way (Runner.ApplyNew, no checkpoint read)
		// builds the same tables, and refuses events a checkpoint is past.
		fresh := newHarness(t)
		applyNew := func() error {
			return fresh.db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
				return fresh.runner.ApplyNew(ctx, tx, h.log.recs)
			})
		}
		if err := applyNew(); err != nil {
			t.Fatal(err)
		}
		check(t, fresh.db)
		assertSameDump(t, live, fresh.dump())
		if err := applyNew(); err == nil || !strings.Contains(err.Error(), "advancing checkpoints") {
			t.Fatalf("applying seen events as new: %v, want the checkpoints' refusal", err)
		}
		assertSameDump(t, live, fresh.dump())
	})
	n, err := h.runner.Rebuild(context.Background(), h.log, nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if n != int64(len(h.log.recs)) {
		h.t.Fatalf("replay went through %d events, want %d", n, len(h.log.recs))
	}
	h.t.Run("replayed", func(t *testing.T) {
		check(t, h.db)
		assertSameDump(t, live, h.dump())
	})
}

// dump renders every row of every projection table (and the checkpoints) as
// text in primary-key order.
func (h *harness) dump() map[string][]string {
	h.t.Helper()
	out := map[string][]string{}
	tables := []string{"projection_checkpoints"}
	for _, p := range projections.All() {
		tables = append(tables, p.Tables()...)
	}
	for _, table := range tables {
		rows, err := h.db.QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY 1")
		if err != nil {
			h.t.Fatalf("dumping %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				h.t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s=%#v;", cols[i], v)
			}
			out[table] = append(out[table], b.String())
		}
		if err := rows.Err(); err != nil {
			h.t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func assertSameDump(t *testing.T, want, got map[string][]string) {
	t.Helper()
	for table, rows := range want {
		if !reflect.DeepEqual(rows, got[table]) {
			t.Errorf("%s differs:\nwant %q\ngot  %q", table, rows, got[table])
		}
	}
}

// rowsOf reads every row of R's table in primary-key order.
func rowsOf[R any](t *testing.T, db bun.IDB) []R {
	t.Helper()
	var rows []R
	if err := db.NewSelect().Model(&rows).OrderExpr("1").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rows
}

// assertRows compares typed rows field by field.
func assertRows[R any](t *testing.T, db bun.IDB, want []R) {
	t.Helper()
	got := rowsOf[R](t, db)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows of %T:\ngot  %s\nwant %s", want, render(got), render(want))
	}
}

func render(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
