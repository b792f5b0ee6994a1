package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyline/keyline/events"
)

// Projection maintains one read model.
type Projection interface {
	// Name identifies the projection on the command line and in checkpoints.
	Name() string
	// Version changes whenever the tables or the folding rules change; a
	// different stored version makes the runner rebuild the read model.
	Version() int
	// Tables lists the tables the projection owns, dropped on a version change
	// and emptied on a replay.
	Tables() []string
	// Setup creates the tables and indexes if missing.
	Setup(ctx context.Context, db bun.IDB) error
	// Handle folds one event into the read model. Events a projection does not
	// care about are ignored.
	Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error
}

// batchHandler is a projection that folds a run of events (in position
// order) in fewer statements than one Handle each. Inline, the group commit
// hands the runner every append of a group at once, under the append lock,
// where each statement is a round trip on PostgreSQL and a parse on SQLite.
// The result must be the one Handle gives event by event.
type batchHandler interface {
	HandleBatch(ctx context.Context, db bun.IDB, recs []events.Recorded, evs []events.Event) error
}

// All returns every projection keyline maintains, in the order they apply.
func All() []Projection {
	return []Projection{Workspaces{}, RootKeys{}, APIs{}, Identities{}, Permissions{}, Roles{}, Keys{}, KeyCredits{}, RatelimitNamespaces{}, RatelimitOverrides{}, Portals{}, PortalSessions{}}
}

// Log is the part of the event store the runner reads from.
type Log interface {
	ReadAfter(ctx context.Context, db bun.IDB, after int64, limit int) ([]events.Recorded, error)
	Count(ctx context.Context, db bun.IDB, after int64) (int64, error)
	WithAppendLock(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error
}

// ErrUnknownProjection is returned for a projection name nobody defined.
var ErrUnknownProjection = errors.New("unknown projection")

// Runner applies a fixed set of projections.
type Runner struct {
	projections []Projection
}

// NewRunner builds a runner over ps.
func NewRunner(ps []Projection) *Runner { return &Runner{projections: ps} }

// Names lists the projections' names.
func (r *Runner) Names() []string {
	out := make([]string, len(r.projections))
	for i, p := range r.projections {
		out[i] = p.Name()
	}
	return out
}

type checkpoint struct {
	bun.BaseModel `bun:"table:projection_checkpoints"`
	Name          string `bun:"name,pk"`
	Version       int    `bun:"version,notnull"`
	Position      int64  `bun:"position,notnull"`
}

// Apply folds freshly appended events into every projection, inside the
// append's transaction. It is the store's inline applier.
func (r *Runner) Apply(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	return r.apply(ctx, tx, r.projections, recs)
}

// ApplyNew is Apply for events that no projection has seen, which is what
// an append's events are: positions are drawn past the log's head under the
// append lock, and no checkpoint is ever past the head. It reads nothing
// (its statements can travel to the database together with the append's)
// and guards that belief instead: if a checkpoint is at or past the first
// event, advancing it writes NULL into its NOT NULL position and the
// statement fails, so the caller can apply the events again with Apply,
// which reads the checkpoints and skips what was seen.
func (r *Runner) ApplyNew(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	if len(recs) == 0 {
		return nil
	}
	return r.applyAfter(ctx, tx, r.projections, recs, nil, true)
}

func (r *Runner) apply(ctx context.Context, db bun.IDB, ps []Projection, recs []events.Recorded) error {
	if len(recs) == 0 {
		return nil
	}
	cps, err := readCheckpoints(ctx, db)
	if err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	return r.applyAfter(ctx, db, ps, recs, cps, false)
}

// applyAfter applies recs to every projection of ps past its checkpoint in
// cps (the whole checkpoint table; none: all before recs), and advances the
// checkpoints; with guarded, advancing fails unless every checkpoint was
// before recs.
func (r *Runner) applyAfter(ctx context.Context, db bun.IDB, ps []Projection, recs []events.Recorded, cps []checkpoint, guarded bool) error {
	at := make(map[string]int64, len(cps))
	for _, c := range cps {
		at[c.Name] = c.Position
	}
	decoded, err := decodeAll(recs)
	if err != nil {
		return err
	}
	last := recs[len(recs)-1].Position
	advanced := make([]string, 0, len(ps))
	for _, p := range ps {
		cp := at[p.Name()]
		if cp >= last {
			continue
		}
		from := 0
		for from < len(recs) && recs[from].Position <= cp {
			from++
		}
		if b, ok := p.(batchHandler); ok {
			if err := b.HandleBatch(ctx, db, recs[from:], decoded[from:]); err != nil {
				return fmt.Errorf("projection %s: %w", p.Name(), err)
			}
		} else {
			for i, rec := range recs[from:] {
				if err := p.Handle(ctx, db, rec, decoded[from+i]); err != nil {
					return fmt.Errorf("projection %s at event %d (%s): %w", p.Name(), rec.Position, rec.Name, err)
				}
			}
		}
		advanced = append(advanced, p.Name())
	}
	if len(advanced) == 0 {
		return nil
	}
	// One statement for every checkpoint: this runs inside each append,
	// under the append lock, so its round trips bound the write rate.
	//
	// Pipelined (ApplyNew, PostgreSQL): guarded, see ApplyNew. On SQLite,
	// OR FAIL: an UPDATE of several rows that may abort (NOT NULL) keeps a
	// statement journal, which a write inside an append does not need (see
	// insertRowsInline). And when every checkpoint row moves (the usual
	// append), no WHERE: an IN list of more than two names is a temporary
	// table to SQLite, whose page cache modernc maps and unmaps each time.
	switch {
	case guarded:
		_, err = db.NewUpdate().Model((*checkpoint)(nil)).Where("name IN (?)", bun.In(advanced)).
			Set("position = CASE WHEN position < ? THEN ? END", recs[0].Position, last).Exec(ctx)
	case db.Dialect().Name() != dialect.SQLite:
		_, err = db.NewUpdate().Model((*checkpoint)(nil)).
			Set("position = ?", last).Where("name IN (?)", bun.In(advanced)).Exec(ctx)
	case advancesEvery(cps, advanced):
		const advanceAll = "UPDATE OR FAIL projection_checkpoints SET position = ?"
		if kept := keptStatements(ctx); kept != nil {
			var st *sql.Stmt
			if st, err = kept(ctx, advanceAll); err == nil {
				_, err = st.ExecContext(ctx, last)
			}
		} else {
			_, err = db.ExecContext(ctx, advanceAll, last)
		}
	default:
		_, err = db.ExecContext(ctx, "UPDATE OR FAIL projection_checkpoints SET position = ? WHERE name IN (?)", last, bun.In(advanced))
	}
	if err != nil {
		return fmt.Errorf("advancing checkpoints to %d: %w", last, err)
	}
	return nil
}

// readCheckpoints reads every checkpoint row: in an append on the SQLite
// appender's connection through a kept statement, elsewhere with bun.
func readCheckpoints(ctx context.Context, db bun.IDB) ([]checkpoint, error) {
	var cps []checkpoint
	kept := keptStatements(ctx)
	if kept == nil {
		err := db.NewSelect().Model(&cps).Scan(ctx)
		return cps, err
	}
	st, err := kept(ctx, "SELECT name, version, position FROM projection_checkpoints")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c checkpoint
		if err := rows.Scan(&c.Name, &c.Version, &c.Position); err != nil {
			return nil, err
		}
		cps = append(cps, c)
	}
	return cps, rows.Err()
}

// advancesEvery tells whether names holds the name of every row in cps
// (the whole checkpoint table, read in the same transaction).
func advancesEvery(cps []checkpoint, names []string) bool {
	moving := make(map[string]bool, len(names))
	for _, n := range names {
		moving[n] = true
	}
	for _, c := range cps {
		if !moving[c.Name] {
			return false
		}
	}
	return true
}

// Setup creates the checkpoint table and every projection's tables, and
// rebuilds from scratch any projection whose stored version differs from the
// code's, then catches every projection up with the log. It runs at start-up
// under the append lock, so it never races a writer.
func (r *Runner) Setup(ctx context.Context, log Log) error {
	return log.WithAppendLock(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewCreateTable().Model((*checkpoint)(nil)).IfNotExists().Exec(ctx); err != nil {
			return fmt.Errorf("creating projection_checkpoints: %w", err)
		}
		var cps []checkpoint
		if err := tx.NewSelect().Model(&cps).Scan(ctx); err != nil {
			return fmt.Errorf("reading checkpoints: %w", err)
		}
		stored := make(map[string]checkpoint, len(cps))
		for _, c := range cps {
			stored[c.Name] = c
		}
		for _, p := range r.projections {
			c, ok := stored[p.Name()]
			if ok && c.Version != p.Version() {
				for _, t := range p.Tables() {
					if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
						return fmt.Errorf("dropping %s for %s v%d: %w", t, p.Name(), p.Version(), err)
					}
				}
			}
			if err := p.Setup(ctx, tx); err != nil {
				return fmt.Errorf("setting up %s: %w", p.Name(), err)
			}
			if !ok || c.Version != p.Version() {
				if _, err := tx.NewInsert().Model(&checkpoint{Name: p.Name(), Version: p.Version()}).
					On("CONFLICT (name) DO UPDATE").Set("version = EXCLUDED.version, position = 0").Exec(ctx); err != nil {
					return fmt.Errorf("resetting checkpoint of %s: %w", p.Name(), err)
				}
			}
		}
		return r.catchUp(ctx, tx, log, r.projections)
	})
}

// Progress receives the count of events replayed so far and the total.
type Progress func(done, total int64)

// Rebuild empties the named projections (all when names is empty) and
// replays the whole log into them in one transaction under the append lock:
// readers see either the old read model or the complete new one, never a
// half-built one, and no write can slip in between. Projections with an
// in-memory fold (BulkProjection, all of keyline's) are folded in memory and
// written once at the end; others one event at a time in the same pass.
func (r *Runner) Rebuild(ctx context.Context, log Log, names []string, progress Progress) (int64, error) {
	ps, err := r.pick(names)
	if err != nil {
		return 0, err
	}
	var done int64
	err = log.WithAppendLock(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, p := range ps {
			if err := p.Setup(ctx, tx); err != nil {
				return fmt.Errorf("setting up %s: %w", p.Name(), err)
			}
			for _, t := range p.Tables() {
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
					return fmt.Errorf("emptying %s: %w", t, err)
				}
			}
			if _, err := tx.NewInsert().Model(&checkpoint{Name: p.Name(), Version: p.Version()}).
				On("CONFLICT (name) DO UPDATE").Set("version = EXCLUDED.version, position = 0").Exec(ctx); err != nil {
				return fmt.Errorf("resetting checkpoint of %s: %w", p.Name(), err)
			}
		}
		total, err := log.Count(ctx, tx, 0)
		if err != nil {
			return err
		}
		onBatch := func(n int64) {
			done = n
			if progress != nil {
				progress(n, total)
			}
		}
		return r.rebuildBulk(ctx, tx, log, ps, onBatch)
	})
	return done, err
}

func (r *Runner) catchUp(ctx context.Context, tx bun.Tx, log Log, ps []Projection) error {
	var cps []checkpoint
	if err := tx.NewSelect().Model(&cps).Scan(ctx); err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	from := int64(-1)
	for _, c := range cps {
		for _, p := range ps {
			if p.Name() == c.Name && (from < 0 || c.Position < from) {
				from = c.Position
			}
		}
	}
	if from < 0 {
		from = 0
	}
	for {
		recs, err := log.ReadAfter(ctx, tx, from, 1000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		if err := r.apply(ctx, tx, ps, recs); err != nil {
			return err
		}
		from = recs[len(recs)-1].Position
	}
}

func (r *Runner) pick(names []string) ([]Projection, error) {
	if len(names) == 0 {
		return r.projections, nil
	}
	var out []Projection
	for _, n := range names {
		found := false
		for _, p := range r.projections {
			if p.Name() == n {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownProjection, n, r.Names())
		}
	}
	return out, nil
}
