package credits

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// Journal is the spend journal as the folder uses it.
type Journal interface {
	ClaimCreditSpends(ctx context.Context, claim string, now, staleBefore time.Time, limit int) ([]projections.CreditSpend, error)
	ReleaseCreditSpends(ctx context.Context, claim string) error
}

// EventLog is where folds are appended.
type EventLog interface {
	Append(ctx context.Context, streamID string, expectedVersion int64, meta events.Metadata, evs ...events.Event) ([]events.Recorded, error)
}

const (
	// foldEvery is how often a node folds: how long a spend may wait in the
	// journal before the log holds it. The balance is exact meanwhile;
	// only the log (and so a replay) lags.
	foldEvery = time.Second
	// claimLease is how long a claim keeps other folders away. A folder
	// that died between its claim and its append leaves its rows for that
	// long, unless a node starts (or a replay runs) and takes them at once.
	claimLease = 10 * time.Second
	// foldBatch bounds the journal rows one append settles: the append holds
	// the write lock on SQLite while it deletes them.
	foldBatch = 5000
	// finalFold bounds the fold at shutdown.
	finalFold = 10 * time.Second
)

// Claims says which claims a fold may take over.
type Claims int

const (
	// RespectClaims leaves rows another folder claimed within claimLease:
	// the periodic fold, so that live folders do not undo each other's work.
	RespectClaims Claims = iota
	// TakeOverClaims takes every row, however fresh its claim: at start-up
	// (a claim this node made before a kill -9 must not wait for its lease)
	// and before a replay. A live folder whose rows are taken fails its
	// append, and the spends are counted once, by the taker.
	TakeOverClaims
)

// Folder folds the spend journal into key.credits_spent events.
type Folder struct {
	journal Journal
	log     EventLog
	logger  *slog.Logger
	now     func() time.Time
}

// NewFolder builds a folder.
func NewFolder(j Journal, log EventLog, logger *slog.Logger) *Folder {
	return &Folder{journal: j, log: log, logger: logger, now: time.Now}
}

// FoldAll folds journal rows until none is left to take, and returns how
// many it folded.
func (f *Folder) FoldAll(ctx context.Context, claims Claims) (int, error) {
	total := 0
	for {
		n, err := f.foldOnce(ctx, claims)
		total += n
		if err != nil || n < foldBatch {
			return total, err
		}
	}
}

// foldOnce claims up to foldBatch rows and appends their sums, one
// key.credits_spent per key and epoch, to the claim's own stream.
func (f *Folder) foldOnce(ctx context.Context, claims Claims) (int, error) {
	now := f.now()
	staleBefore := now.Add(-claimLease)
	if claims == TakeOverClaims {
		staleBefore = time.UnixMilli(math.MaxInt64)
	}
	claim := rand.Text()
	spends, err := f.journal.ClaimCreditSpends(ctx, claim, now, staleBefore, foldBatch)
	if err != nil || len(spends) == 0 {
		return 0, err
	}
	evs := sums(spends)
	if _, err := f.log.Append(ctx, events.CreditFoldStreamID(claim), 0, events.Metadata{ActorID: "verifier"}, evs...); err != nil {
		// The append did not commit, or committed and deleted the rows:
		// either way releasing is right, and the next fold retries at once
		// instead of after the lease.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFold)
		defer cancel()
		if rerr := f.journal.ReleaseCreditSpends(rctx, claim); rerr != nil {
			f.logger.Warn("releasing a failed credit fold; its spends are folded once its claim is stale",
				"claim", claim, "error", rerr)
		}
		return 0, fmt.Errorf("appending a credit fold of %d spends: %w", len(spends), err)
	}
	return len(spends), nil
}

// sums adds spends up per key and epoch, in key order.
func sums(spends []projections.CreditSpend) []events.Event {
	type sumKey struct {
		keyID, workspaceID string
		epoch              int64
	}
	total := map[sumKey]int64{}
	for _, s := range spends {
		total[sumKey{s.KeyID, s.WorkspaceID, s.Epoch}] += s.Amount
	}
	keys := make([]sumKey, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sumKey) int {
		return cmp.Or(cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.epoch, b.epoch), cmp.Compare(a.workspaceID, b.workspaceID))
	})
	evs := make([]events.Event, len(keys))
	for i, k := range keys {
		evs[i] = events.KeyCreditsSpent{KeyID: k.keyID, WorkspaceID: k.workspaceID, Amount: total[k], Epoch: k.epoch}
	}
	return evs
}

// Run folds what dead folders left at start-up, then every foldEvery until
// ctx ends, then once more: the server cancels ctx after the HTTP listener
// has drained, so a clean stop leaves no row behind.
func (f *Folder) Run(ctx context.Context) error {
	f.fold(ctx, TakeOverClaims)
	t := time.NewTicker(foldEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFold)
			defer cancel()
			_, err := f.FoldAll(fctx, RespectClaims)
			return err
		case <-t.C:
			f.fold(ctx, RespectClaims)
		}
	}
}

// fold runs FoldAll and logs a failure: the rows stay in the journal and the
// next tick, or another node, folds them.
func (f *Folder) fold(ctx context.Context, claims Claims) {
	if _, err := f.FoldAll(ctx, claims); err != nil && ctx.Err() == nil {
		f.logger.Warn("folding credit spends into the log failed; retrying", "error", err)
	}
}
