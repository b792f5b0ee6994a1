package projections

import (
	"context"
	"fmt"
	"slices"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyline/keyline/events"
)

// BulkProjection is a projection that can also fold the log in memory. A
// replay starts from empty tables, so nothing has to be read back: every
// row lives in a map until the whole log is folded, and each table is then
// written once with multi-row INSERTs. That replaces several statements per
// event with a few per thousand rows.
//
// The in-memory fold mirrors Handle row for row; the projection tests run
// every event kind through both (Runner.Apply and Runner.Rebuild) and
// compare the tables, and the end-to-end replay tests compare a replayed
// database with the live one.
type BulkProjection interface {
	Projection
	NewBulk() Bulk
}

// Bulk is one projection's read model while a replay folds the log.
type Bulk interface {
	// Fold applies one event in memory. It cannot fail: every outcome
	// Handle's statements can have on rows is representable in the maps.
	Fold(rec events.Recorded, e events.Event)
	// Write inserts every row into the projection's (empty) tables.
	Write(ctx context.Context, db bun.IDB) error
}

// rowSet holds the rows of one table by primary key.
type rowSet[R any] struct {
	rows map[string]*R
}

func newRowSet[R any]() *rowSet[R] { return &rowSet[R]{rows: map[string]*R{}} }

// get returns the row with primary key id, or nil: an UPDATE of a missing
// row changes nothing, and neither does the fold.
func (s *rowSet[R]) get(id string) *R { return s.rows[id] }

// insert is INSERT … ON CONFLICT DO NOTHING.
func (s *rowSet[R]) insert(id string, r *R) {
	if _, ok := s.rows[id]; !ok {
		s.rows[id] = r
	}
}

func (s *rowSet[R]) delete(id string) { delete(s.rows, id) }

// write inserts the rows in primary-key order, which keeps B-tree inserts
// appending on both databases.
func (s *rowSet[R]) write(ctx context.Context, db bun.IDB) error {
	ids := make([]string, 0, len(s.rows))
	for id := range s.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make([]*R, len(ids))
	for i, id := range ids {
		rows[i] = s.rows[id]
	}
	return writeRows(ctx, db, rows)
}

// links is an association table whose rows are identified by both ends
// ("a:b", as addKeyPermissions and addRolePermissions name them), indexed
// both ways because rows are deleted by either end.
type links struct {
	byA, byB map[string]map[string]struct{}
}

func newLinks() *links {
	return &links{byA: map[string]map[string]struct{}{}, byB: map[string]map[string]struct{}{}}
}

func (l *links) add(a string, bs []string) {
	for _, b := range bs {
		addTo(l.byA, a, b)
		addTo(l.byB, b, a)
	}
}

func (l *links) remove(a string, bs []string) {
	for _, b := range bs {
		delete(l.byA[a], b)
		delete(l.byB[b], a)
	}
}

func (l *links) removeA(a string) {
	for b := range l.byA[a] {
		delete(l.byB[b], a)
	}
	delete(l.byA, a)
}

func (l *links) removeB(b string) {
	for a := range l.byB[b] {
		delete(l.byA[a], b)
	}
	delete(l.byB, b)
}

func addTo(m map[string]map[string]struct{}, k, v string) {
	set := m[k]
	if set == nil {
		set = map[string]struct{}{}
		m[k] = set
	}
	set[v] = struct{}{}
}

// write inserts one row per link, built by row from both ends.
func writeLinks[R any](ctx context.Context, db bun.IDB, l *links, row func(a, b string) R) error {
	set := newRowSet[R]()
	for a, bs := range l.byA {
		for b := range bs {
			r := row(a, b)
			set.rows[a+":"+b] = &r
		}
	}
	return set.write(ctx, db)
}

// rebuildBulk folds the whole log into ps, whose tables are empty: those
// implementing BulkProjection in memory, written once at the end, the
// others event by event. It then moves their checkpoints to the last
// position. It runs in the caller's transaction.
func (r *Runner) rebuildBulk(ctx context.Context, tx bun.Tx, log Log, ps []Projection, onBatch func(int64)) error {
	if tx.Dialect().Name() == dialect.SQLite {
		// SQLite spills dirty pages to the WAL once its page cache (2 MB by
		// default) is full, long before this one transaction commits; a
		// larger cache for the duration of the replay keeps the rebuilt
		// tables in memory until the commit writes them once.
		var pages int64
		if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&pages); err != nil {
			return fmt.Errorf("reading cache_size: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
			return fmt.Errorf("raising cache_size: %w", err)
		}
		defer func() {
			_, _ = tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", pages))
		}()
	}
	var bulks []Bulk
	var bulkNames []string
	var others []Projection
	for _, p := range ps {
		if bp, ok := p.(BulkProjection); ok {
			bulks, bulkNames = append(bulks, bp.NewBulk()), append(bulkNames, p.Name())
		} else {
			others = append(others, p)
		}
	}
	var from, done int64
	for {
		recs, err := log.ReadAfter(ctx, tx, from, replayPage)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		decoded, err := decodeAll(recs)
		if err != nil {
			return err
		}
		for i, rec := range recs {
			for _, b := range bulks {
				b.Fold(rec, decoded[i])
			}
		}
		// A projection without an in-memory fold takes the same pass, one
		// statement per event, rather than a second read of the log.
		for _, p := range others {
			for i, rec := range recs {
				if err := p.Handle(ctx, tx, rec, decoded[i]); err != nil {
					return fmt.Errorf("projection %s at event %d (%s): %w", p.Name(), rec.Position, rec.Name, err)
				}
			}
		}
		from = recs[len(recs)-1].Position
		done += int64(len(recs))
		if onBatch != nil {
			onBatch(done)
		}
	}
	for i, b := range bulks {
		if err := b.Write(ctx, tx); err != nil {
			return fmt.Errorf("writing %s: %w", bulkNames[i], err)
		}
	}
	if from == 0 {
		return nil
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	if _, err := tx.NewUpdate().Model((*checkpoint)(nil)).
		Set("position = ?", from).Where("name IN (?)", bun.In(names)).Exec(ctx); err != nil {
		return fmt.Errorf("advancing checkpoints to %d: %w", from, err)
	}
	return nil
}

// replayPage is how many events one read of the log returns during a
// replay: pages are read by keyset on position, so their size only trades
// memory for round trips.
const replayPage = 10000

func decodeAll(recs []events.Recorded) ([]events.Event, error) {
	decoded := make([]events.Event, len(recs))
	for i, rec := range recs {
		e, err := rec.Decode()
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", rec.Position, err)
		}
		decoded[i] = e
	}
	return decoded, nil
}
