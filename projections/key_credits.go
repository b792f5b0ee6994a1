package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
)

// KeyCreditsRow is a key's credit counter, the one piece of read model that
// verifications write to directly (see docs/ARCHITECTURE.md, "Credits").
//
//   - Remaining is the live balance; NULL means unlimited. A verification
//     spends with a conditional UPDATE on it, so no node can overspend.
//   - Logged is the balance the log accounts for: Remaining plus the spends
//     still in the journal (credit_spends) of the row's epoch, not yet
//     folded into key.credits_spent events.
//   - Epoch counts set-like events (create, set, decrement, refill). Spends
//     are recorded with the epoch they happened in; a set-like event
//     overrides every earlier spend, so spends of an older epoch are ignored
//     when they reach the log later, live and on replay alike.
//
// The handlers are written so that live application and replay agree: after
// every spend is folded, Remaining == Logged, both equal to the fold of the log.
type KeyCreditsRow struct {
	bun.BaseModel `bun:"table:key_credits"`
	KeyID         string `bun:"key_id,pk"`
	Remaining     *int64 `bun:"remaining"`
	Logged        *int64 `bun:"logged"`
	Epoch         int64  `bun:"epoch,notnull"`
}

// KeyCredits projects credit events into key_credits.
type KeyCredits struct{}

func (KeyCredits) Name() string     { return "key_credits" }
func (KeyCredits) Version() int     { return 1 }
func (KeyCredits) Tables() []string { return []string{"key_credits"} }

func (KeyCredits) Setup(ctx context.Context, db bun.IDB) error {
	_, err := db.NewCreateTable().Model((*KeyCreditsRow)(nil)).IfNotExists().Exec(ctx)
	return err
}

// HandleBatch inserts the counters of a run of key.created events in one
// statement and hands every other event to Handle in its place in the order.
func (k KeyCredits) HandleBatch(ctx context.Context, db bun.IDB, recs []events.Recorded, evs []events.Event) error {
	var rows []*KeyCreditsRow
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := insertRowsInline(ctx, db, rows, "key_id"); err != nil {
			return fmt.Errorf("inserting %d credit counters: %w", len(rows), err)
		}
		rows = rows[:0]
		return nil
	}
	return batchCreated(ctx, db, k, recs, evs, func(_ events.Recorded, c events.KeyCreated) {
		rows = append(rows, &KeyCreditsRow{KeyID: c.KeyID, Remaining: c.Remaining, Logged: c.Remaining, Epoch: 1})
	}, flush)
}

func (KeyCredits) Handle(ctx context.Context, db bun.IDB, rec events.Recorded, e events.Event) error {
	set := func(keyID string, v *int64) error {
		var arg any // unlimited: an untyped nil is sent as NULL
		if v != nil {
			arg = *v
		}
		_, err := db.NewUpdate().Model((*KeyCreditsRow)(nil)).
			Set("remaining = ?, logged = ?, epoch = epoch + 1", arg, arg).Where("key_id = ?", keyID).Exec(ctx)
		return err
	}
	switch e := e.(type) {
	case events.KeyCreated:
		row := &KeyCreditsRow{KeyID: e.KeyID, Remaining: e.Remaining, Logged: e.Remaining, Epoch: 1}
		_, err := db.NewInsert().Model(row).On("CONFLICT (key_id) DO NOTHING").Exec(ctx)
		return err
	case events.KeyCreditsSet:
		return set(e.KeyID, e.Remaining)
	case events.KeyCreditsDecremented:
		return set(e.KeyID, &e.Result)
	case events.KeyRefilled:
		return set(e.KeyID, &e.Amount)
	case events.KeyCreditsIncremented:
		// Saturate at MaxInt64: the API refuses increments past it, but a
		// refill racing an increment, or a log written before that check,
		// must not overflow (an error on PostgreSQL, a REAL on SQLite that
		// no reader can scan into an int64 again).
		ceiling := int64(math.MaxInt64) - max(e.By, 0)
		_, err := db.NewUpdate().Model((*KeyCreditsRow)(nil)).
			Set("remaining = CASE WHEN remaining > ? THEN ? ELSE remaining + ? END", ceiling, int64(math.MaxInt64), e.By).
			Set("logged = CASE WHEN logged > ? THEN ? ELSE logged + ? END", ceiling, int64(math.MaxInt64), e.By).
			Where("key_id = ? AND remaining IS NOT NULL", e.KeyID).Exec(ctx)
		return err
	case events.KeyCreditsSpent:
		// Live, Remaining already reflects these spends and is at most
		// Logged minus them; on replay Remaining == Logged. Taking the
		// minimum is therefore right in both cases.
		_, err := db.NewUpdate().Model((*KeyCreditsRow)(nil)).
			Set("logged = logged - ?", e.Amount).
			Set("remaining = CASE WHEN remaining < logged - ? THEN remaining ELSE logged - ? END", e.Amount, e.Amount).
			Where("key_id = ? AND epoch = ? AND logged IS NOT NULL", e.KeyID, e.Epoch).Exec(ctx)
		return err
	case events.KeyDeleted:
		if e.Permanent {
			_, err := db.NewDelete().Model((*KeyCreditsRow)(nil)).Where("key_id = ?", e.KeyID).Exec(ctx)
			return err
		}
	}
	return nil
}

// Credits reads a key's counter from the primary. ok is false for a key
// without a counter row (unknown or permanently deleted).
func (r *Reader) Credits(ctx context.Context, keyID string) (row KeyCreditsRow, ok bool, err error) {
	err = r.Primary.NewSelect().Model(&row).Where("key_id = ?", keyID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	return row, err == nil, err
}

// CreditsOf reads the counters of keyIDs (for listing).
func (r *Reader) CreditsOf(ctx context.Context, keyIDs []string) (map[string]KeyCreditsRow, error) {
	out := map[string]KeyCreditsRow{}
	if len(keyIDs) == 0 {
		return out, nil
	}
	var rows []KeyCreditsRow
	if err := r.Primary.NewSelect().Model(&rows).Where("key_id IN (?)", bun.In(keyIDs)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading credits: %w", err)
	}
	for _, row := range rows {
		out[row.KeyID] = row
	}
	return out, nil
}

// NewBulk is the in-memory form of Handle for replay. Each case computes
// what Handle's statement computes; SQL evaluates every SET expression on
// the row as it was, and so does each case here.
func (KeyCredits) NewBulk() Bulk { return &keyCreditsBulk{rows: newRowSet[KeyCreditsRow]()} }

type keyCreditsBulk struct{ rows *rowSet[KeyCreditsRow] }

func (b *keyCreditsBulk) Fold(_ events.Recorded, e events.Event) {
	set := func(keyID string, v *int64) {
		if row := b.rows.get(keyID); row != nil {
			row.Remaining, row.Logged, row.Epoch = copyInt(v), copyInt(v), row.Epoch+1
		}
	}
	switch e := e.(type) {
	case events.KeyCreated:
		b.rows.insert(e.KeyID, &KeyCreditsRow{KeyID: e.KeyID, Remaining: copyInt(e.Remaining), Logged: copyInt(e.Remaining), Epoch: 1})
	case events.KeyCreditsSet:
		set(e.KeyID, e.Remaining)
	case events.KeyCreditsDecremented:
		set(e.KeyID, &e.Result)
	case events.KeyRefilled:
		set(e.KeyID, &e.Amount)
	case events.KeyCreditsIncremented:
		row := b.rows.get(e.KeyID)
		if row == nil || row.Remaining == nil {
			return
		}
		ceiling := int64(math.MaxInt64) - max(e.By, 0)
		add := func(v *int64) *int64 {
			if v == nil { // NULL + by is NULL
				return nil
			}
			n := int64(math.MaxInt64)
			if *v <= ceiling {
				n = *v + e.By
			}
			return &n
		}
		row.Remaining, row.Logged = add(row.Remaining), add(row.Logged)
	case events.KeyCreditsSpent:
		row := b.rows.get(e.KeyID)
		if row == nil || row.Epoch != e.Epoch || row.Logged == nil {
			return
		}
		after := *row.Logged - e.Amount
		if row.Remaining == nil || *row.Remaining >= after {
			row.Remaining = &after
		}
		row.Logged = copyInt(&after)
	case events.KeyDeleted:
		if e.Permanent {
			b.rows.delete(e.KeyID)
		}
	}
}

func (b *keyCreditsBulk) Write(ctx context.Context, db bun.IDB) error { return b.rows.write(ctx, db) }

// copyInt gives a row its own integer, so that no two rows, nor a row and an
// event, alias one balance.
func copyInt(v *int64) *int64 {
	if v == nil {
		return nil
	}
	n := *v
	return &n
}
