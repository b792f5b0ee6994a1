package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyline/keyline/events"
)

// The credit spend journal (table credit_spends, created by the store's
// migrations) makes a spend and its record durable together: the spend that
// lowers key_credits.remaining inserts its journal row in the same statement
// or transaction, and the append that folds journal rows into
// key.credits_spent events deletes them in its own transaction. A spend is
// therefore always either in the journal or in the log, never in neither
// (lost on a crash) nor in both (counted twice). See docs/ARCHITECTURE.md,
// "Credits".

// CreditSpend is one journal row as a fold claims it.
type CreditSpend struct {
	KeyID       string
	WorkspaceID string
	Epoch       int64
	Amount      int64
}

// SpendCredits takes cost credits from a limited key if it has at least
// that many and journals the spend, in one statement on PostgreSQL (the
// UPDATE and the INSERT in one CTE) and one transaction on SQLite.
// Concurrent verifiers on any number of nodes serialise on the row and can
// never overspend. It returns the balance after the call and whether the
// credits were taken; a failed spend changes nothing.
func (r *Reader) SpendCredits(ctx context.Context, keyID, workspaceID string, cost int64) (remaining int64, spent bool, err error) {
	if r.Primary.Dialect().Name() == dialect.PG {
		// Data-modifying CTEs run to completion whether or not the outer
		// query reads them, and all in the statement's one transaction.
		err = r.Primary.QueryRowContext(ctx, `WITH s AS (
				UPDATE key_credits SET remaining = remaining - ? WHERE key_id = ? AND remaining >= ? RETURNING remaining, epoch
			), j AS (
				INSERT INTO credit_spends (key_id, workspace_id, epoch, amount) SELECT ?, ?, epoch, ? FROM s WHERE ? > 0
			) SELECT remaining FROM s`,
			cost, keyID, cost, keyID, workspaceID, cost, cost).Scan(&remaining)
	} else {
		err = r.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var epoch int64
			if err := tx.QueryRowContext(ctx,
				"UPDATE key_credits SET remaining = remaining - ? WHERE key_id = ? AND remaining >= ? RETURNING remaining, epoch",
				cost, keyID, cost).Scan(&remaining, &epoch); err != nil || cost == 0 {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO credit_spends (key_id, workspace_id, epoch, amount) VALUES (?, ?, ?, ?)",
				keyID, workspaceID, epoch, cost)
			return err
		})
	}
	if err == nil {
		return remaining, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("spending credits: %w", err)
	}
	row, ok, err := r.Credits(ctx, keyID)
	if err != nil || !ok || row.Remaining == nil {
		return 0, false, err
	}
	return *row.Remaining, false, nil
}

// ClaimCreditSpends marks up to limit journal rows, oldest first, with claim
// and returns them. It takes unclaimed rows and rows whose claim was made
// before staleBefore (a folder that died or stalled between its claim and
// its append). Taking over a live claim is safe, only wasteful: the
// settlement of the older claim then finds its rows gone and fails.
func (r *Reader) ClaimCreditSpends(ctx context.Context, claim string, now, staleBefore time.Time, limit int) ([]CreditSpend, error) {
	// On PostgreSQL, rows another claimer holds locked are skipped rather
	// than waited for; the outer condition is rechecked against the row as
	// committed, so a row claimed meanwhile is not claimed twice.
	lock := ""
	if r.Primary.Dialect().Name() == dialect.PG {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	stale := staleBefore.UnixMilli()
	rows, err := r.Primary.QueryContext(ctx, `UPDATE credit_spends SET claim = ?, claimed_at = ?
		WHERE id IN (SELECT id FROM credit_spends WHERE claim IS NULL OR claimed_at < ? ORDER BY id LIMIT ?`+lock+`)
		AND (claim IS NULL OR claimed_at < ?)
		RETURNING key_id, workspace_id, epoch, amount`,
		claim, now.UnixMilli(), stale, limit, stale)
	if err != nil {
		return nil, fmt.Errorf("claiming credit spends: %w", err)
	}
	defer rows.Close()
	var out []CreditSpend
	for rows.Next() {
		var s CreditSpend
		if err := rows.Scan(&s.KeyID, &s.WorkspaceID, &s.Epoch, &s.Amount); err != nil {
			return nil, fmt.Errorf("claiming credit spends: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming credit spends: %w", err)
	}
	return out, nil
}

// ReleaseCreditSpends gives up claim, so that the next fold takes its rows
// at once instead of after the claim went stale. Rows a committed fold
// already deleted are not there to release.
func (r *Reader) ReleaseCreditSpends(ctx context.Context, claim string) error {
	if _, err := r.Primary.ExecContext(ctx,
		"UPDATE credit_spends SET claim = NULL, claimed_at = NULL WHERE claim = ?", claim); err != nil {
		return fmt.Errorf("releasing credit spends: %w", err)
	}
	return nil
}

// PendingCreditSpends counts the journal rows not yet folded into the log.
func (r *Reader) PendingCreditSpends(ctx context.Context) (int64, error) {
	var n int64
	if err := r.Primary.QueryRowContext(ctx, "SELECT COUNT(*) FROM credit_spends").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting credit spends: %w", err)
	}
	return n, nil
}

// ErrFoldSuperseded fails the append of a fold whose claimed journal rows
// are no longer all there under its claim: another folder took them over.
// The append commits nothing, so the spends are counted once, by the other.
var ErrFoldSuperseded = errors.New("credit fold superseded: its journal rows were claimed by another folder")

// LiveApplier is the applier the event store calls inside every append. It
// settles the spend journal for the folds among the appended events, then
// applies the projections. Replay does not go through it: a rebuild must
// not touch the journal, whose rows the log does not hold yet.
type LiveApplier struct {
	runner *Runner
}

// NewLiveApplier wraps the runner's inline Apply.
func NewLiveApplier(r *Runner) *LiveApplier { return &LiveApplier{runner: r} }

// Apply settles, then projects, in the append's transaction.
func (a *LiveApplier) Apply(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	if err := settleCreditFolds(ctx, tx, recs); err != nil {
		return err
	}
	return a.runner.Apply(ctx, tx, recs)
}

// ApplyNew settles, then projects without reading the checkpoints first
// (Runner.ApplyNew): the store's pipelined appends on PostgreSQL.
func (a *LiveApplier) ApplyNew(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	if err := settleCreditFolds(ctx, tx, recs); err != nil {
		return err
	}
	return a.runner.ApplyNew(ctx, tx, recs)
}

// ApplyWithStatements is Apply with a source of prepared statements that
// outlive the transaction (the SQLite appender's, prepared once on the
// connection it keeps): the inline multi-row INSERTs take theirs from it
// instead of parsing them again in every group. A statement it returns runs
// in the transaction open on that connection and is not closed by its user.
func (a *LiveApplier) ApplyWithStatements(ctx context.Context, tx bun.Tx, recs []events.Recorded,
	stmts func(ctx context.Context, query string) (*sql.Stmt, error)) error {
	return a.Apply(context.WithValue(ctx, statementsKey{}, stmts), tx, recs)
}

// foldKey is what a fold sums spends by: key_credits applies a spend only in
// the epoch it was made in.
type foldKey struct {
	keyID string
	epoch int64
}

// settleCreditFolds deletes the journal rows of every fold stream in recs and
// checks that they are exactly what the fold's events record, key by key and
// epoch by epoch. Deleting in the append's transaction is what makes the
// fold count each spend once: the events commit exactly when their rows go.
func settleCreditFolds(ctx context.Context, tx bun.IDB, recs []events.Recorded) error {
	var claims []string
	recorded := map[string]map[foldKey]int64{}
	for _, rec := range recs {
		claim, ok := events.CreditFoldClaim(rec.StreamID)
		if !ok {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			return fmt.Errorf("event %d: %w", rec.Position, err)
		}
		spent, ok := e.(events.KeyCreditsSpent)
		if !ok {
			return fmt.Errorf("fold stream %s holds %s, want only %s", rec.StreamID, rec.Name, events.KeyCreditsSpent{}.EventName())
		}
		if recorded[claim] == nil {
			recorded[claim] = map[foldKey]int64{}
			claims = append(claims, claim)
		}
		recorded[claim][foldKey{spent.KeyID, spent.Epoch}] += spent.Amount
	}
	sort.Strings(claims)
	for _, claim := range claims {
		journal, err := deleteClaimed(ctx, tx, claim)
		if err != nil {
			return err
		}
		if !maps.Equal(journal, recorded[claim]) {
			return fmt.Errorf("settling fold %s: %w", claim, ErrFoldSuperseded)
		}
	}
	return nil
}

func deleteClaimed(ctx context.Context, tx bun.IDB, claim string) (map[foldKey]int64, error) {
	rows, err := tx.QueryContext(ctx, "DELETE FROM credit_spends WHERE claim = ? RETURNING key_id, epoch, amount", claim)
	if err != nil {
		return nil, fmt.Errorf("settling fold %s: %w", claim, err)
	}
	defer rows.Close()
	sums := map[foldKey]int64{}
	for rows.Next() {
		var (
			k      foldKey
			amount int64
		)
		if err := rows.Scan(&k.keyID, &k.epoch, &amount); err != nil {
			return nil, fmt.Errorf("settling fold %s: %w", claim, err)
		}
		sums[k] += amount
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settling fold %s: %w", claim, err)
	}
	return sums, nil
}
