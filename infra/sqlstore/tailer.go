package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// Tailer follows the log and hands every event committed by any process
// (this one, `keyline bootstrap`, or another node sharing the database) to
// node-local consumers such as caches.
//
// It reads by position, which is exact because appends are serialised: there
// is no late-committing lower position to miss. Polling the primary costs one
// indexed range query per interval; Poke skips the wait when this process
// knows it just appended.
type Tailer struct {
	store    *Store
	interval time.Duration
	logger   *slog.Logger
	wake     chan struct{}

	// deliver is held while events are handed to handlers and the
	// position moves past them, by the tailer's reads and by this
	// process's commits alike, so handlers see each position once, in
	// order.
	deliver sync.Mutex

	mu       sync.Mutex
	handlers []func(events.Recorded) // Subscribe's
	follows  []func(events.Recorded) // Follow's, which also hear of local commits
	position int64
	started  bool

	// reads counts the reads of the log, for tests.
	reads atomic.Int64
}

// NewTailer builds a tailer over store that polls every cfg.PollIntervalMs.
func NewTailer(store *Store, cfg configs.Projections, logger *slog.Logger) *Tailer {
	interval := time.Duration(cfg.PollIntervalMs) * time.Millisecond
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	t := &Tailer{store: store, interval: interval, logger: logger, wake: make(chan struct{}, 1)}
	store.OnCommit(t.committed)
	return t
}

// committed takes this process's commit recs (one append's events, in
// position order). When they follow the tailer's position directly, the
// log holds nothing the tailer has not seen up to them, so the position
// moves past them without reading them back (Subscribe's handlers get
// them here; followers already heard of them from the commit itself):
// under a write load on one node the tailer then reads nothing at all.
// Otherwise another process committed in between, and the tailer reads.
func (t *Tailer) committed(recs []events.Recorded) {
	if len(recs) == 0 {
		return
	}
	t.deliver.Lock()
	t.mu.Lock()
	next := t.started && recs[0].Position == t.position+1
	handlers := t.handlers
	t.mu.Unlock()
	if next {
		for _, r := range recs {
			for _, h := range handlers {
				h(r)
			}
		}
		t.mu.Lock()
		t.position = recs[len(recs)-1].Position
		t.mu.Unlock()
	}
	t.deliver.Unlock()
	if !next {
		t.Poke()
	}
}

// Follower is node-local state derived from the log, a cache: Observe drops
// (or updates) what an event outdates. It must be quick, safe for concurrent
// calls and idempotent: it hears of this process's own events at commit,
// and again from the tailer when another process's commit came between.
type Follower interface {
	Observe(events.Recorded)
}

// Follow is how every node-local cache follows the log: fs see each event
// this process appends synchronously at commit, before the writer answers
// (so a node never serves its own stale state), and every event of the log,
// other processes' included, through the tailer. Registering both paths in
// one call is the point: a cache hooked to only one of them would miss
// either other nodes' writes or, until the next poll, its own.
func (t *Tailer) Follow(fs ...Follower) {
	for _, f := range fs {
		t.mu.Lock()
		t.follows = append(t.follows, f.Observe)
		t.mu.Unlock()
		t.store.OnCommit(func(recs []events.Recorded) {
			for _, r := range recs {
				f.Observe(r)
			}
		})
	}
}

// Subscribe registers fn for every event of the log from now on, each
// once and in position order: this process's commits as they commit (on
// the appending goroutine) when nothing came between them and what the
// tailer had seen, everything else as the tailer reads it. fn must be
// quick. Caches use Follow.
func (t *Tailer) Subscribe(fn func(events.Recorded)) {
	t.mu.Lock()
	t.handlers = append(t.handlers, fn)
	t.mu.Unlock()
}

// Poke asks the tailer to read now instead of at the next tick.
func (t *Tailer) Poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Position is the last position handed to subscribers.
func (t *Tailer) Position() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.position
}

// Lag is how many positions the log head is ahead of what this tailer has
// handed to subscribers: the events this node's caches have not seen yet.
// It reads the head from the primary.
func (t *Tailer) Lag(ctx context.Context) (int64, error) {
	head, err := t.store.Head(ctx, nil)
	if err != nil {
		return 0, err
	}
	return max(head-t.Position(), 0), nil
}

// Start fixes the position the tailer follows the log from: the current
// head. Node-local consumers start empty, so history before start-up is of
// no interest, but everything after it is: the server calls Start before it
// answers its first request, so that no event appended after a cache could
// have been filled is skipped (as it would be if Run read the head later,
// on a goroutine that had not been scheduled yet).
func (t *Tailer) Start(ctx context.Context) error {
	head, err := t.store.Head(ctx, nil)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if !t.started {
		t.position, t.started = head, true
	}
	t.mu.Unlock()
	return nil
}

// Run follows the log until ctx ends, from the position Start fixed (or
// from the current head if Start was not called).
func (t *Tailer) Run(ctx context.Context) error {
	if err := t.Start(ctx); err != nil {
		return err
	}
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	for {
		read := time.Now()
		if err := t.drain(ctx); err != nil && ctx.Err() == nil {
			t.logger.Warn("reading the event log failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-t.wake:
			// Under a write load every group commit pokes: reading at most
			// once per pokeGap hands the same events on in fewer reads.
			if wait := pokeGap - time.Since(read); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}
	}
}

// pokeGap is the shortest time between two reads that pokes start.
const pokeGap = 10 * time.Millisecond

func (t *Tailer) drain(ctx context.Context) error {
	for {
		t.mu.Lock()
		after := t.position
		t.mu.Unlock()
		t.reads.Add(1)
		recs, err := t.store.ReadAfter(ctx, nil, after, 500)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		t.deliver.Lock()
		t.mu.Lock()
		// This process's commits may have moved the position meanwhile.
		for len(recs) > 0 && recs[0].Position <= t.position {
			recs = recs[1:]
		}
		handlers := append(t.handlers[:len(t.handlers):len(t.handlers)], t.follows...)
		t.mu.Unlock()
		for _, r := range recs {
			for _, h := range handlers {
				h(r)
			}
		}
		if len(recs) > 0 {
			t.mu.Lock()
			t.position = recs[len(recs)-1].Position
			t.mu.Unlock()
		}
		t.deliver.Unlock()
	}
}
