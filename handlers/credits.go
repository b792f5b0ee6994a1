package handlers

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/keyline/keyline/events"
)

// CreditLedger spends credits for verifications and records the spends in
// the log.
//
// The decision is a conditional UPDATE on the key's counter row in the
// primary database (KeyReader.SpendCredits), so it is exact across every
// node sharing the database. Writing an event per verification would put a
// serialised append on the hot path; instead spends are summed per key and
// epoch in memory and flushed as key.credits_spent events about once a
// second and at shutdown, one append per flush. Replay folds those events
// back into the same balance (see projections.KeyCreditsRow).
type CreditLedger struct {
	reader KeyReader
	log    EventLog
	stream string

	mu      sync.Mutex
	pending map[spendKey]int64

	flushMu sync.Mutex
	version int64
}

type spendKey struct {
	keyID, workspaceID string
	epoch              int64
}

// NewCreditLedger builds a ledger. Each process appends its flushes to a
// stream of its own, so flushes of different nodes never conflict.
func NewCreditLedger(r KeyReader, log EventLog) *CreditLedger {
	return &CreditLedger{reader: r, log: log, stream: "credits-" + NewID("node"), pending: map[spendKey]int64{}}
}

// Spend takes cost credits from keyID if it holds that many and returns the
// balance after the call.
func (l *CreditLedger) Spend(ctx context.Context, keyID, workspaceID string, cost int64) (remaining int64, ok bool, err error) {
	remaining, epoch, ok, err := l.reader.SpendCredits(ctx, keyID, cost)
	if err != nil || !ok || cost == 0 {
		return remaining, ok, err
	}
	l.mu.Lock()
	l.pending[spendKey{keyID, workspaceID, epoch}] += cost
	l.mu.Unlock()
	return remaining, true, nil
}

// Flush appends every pending spend. On failure the spends are kept for the
// next attempt.
func (l *CreditLedger) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	batch := l.pending
	l.pending = map[spendKey]int64{}
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	keys := make([]spendKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].keyID != keys[j].keyID {
			return keys[i].keyID < keys[j].keyID
		}
		return keys[i].epoch < keys[j].epoch
	})
	evs := make([]events.Event, len(keys))
	for i, k := range keys {
		evs[i] = events.KeyCreditsSpent{KeyID: k.keyID, WorkspaceID: k.workspaceID, Amount: batch[k], Epoch: k.epoch}
	}
	if _, err := l.log.Append(ctx, l.stream, l.version, events.Metadata{ActorID: "verifier"}, evs...); err != nil {
		l.mu.Lock()
		for k, v := range batch {
			l.pending[k] += v
		}
		l.mu.Unlock()
		return err
	}
	l.version += int64(len(evs))
	return nil
}

// Run flushes every second until ctx ends, then once more. The server
// cancels ctx only after the HTTP listener has drained, so the last flush
// holds every spend this process answered.
func (l *CreditLedger) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return l.Flush(fctx)
		case <-t.C:
			_ = l.Flush(ctx)
		}
	}
}
