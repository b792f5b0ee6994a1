package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/keyline/keyline/events"
)

const shardCount = 256

// Memory is the in-process limiter. Counters are spread over shards so that
// unrelated identifiers do not contend on one lock; a batch locks the shards
// it touches in index order, which keeps multi-check decisions atomic without
// deadlocks.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex
	m  map[counterKey]*counter
	// peak is the largest size since the map was last rebuilt: Go maps keep
	// their buckets after deletes, so the janitor rebuilds a shard that
	// shrank a lot to actually give the memory back.
	peak int
}

type counterKey struct {
	key        string
	durationMs int64
}

// counter holds the counts of window seq and of window seq-1.
type counter struct {
	seq      int64
	current  int64
	previous int64
}

// NewMemory builds an empty limiter. Call Sweep periodically (RunJanitor
// does) to bound its memory.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[counterKey]*counter{}
	}
	return m
}

// Decide implements handlers.Ratelimiter. It never fails.
func (m *Memory) Decide(_ context.Context, now time.Time, checks []events.RatelimitCheck) ([]events.RatelimitDecision, error) {
	nowMs := now.UnixMilli()
	// A request decides one check, or a few: the working slices then live
	// on the stack (append only allocates past smallBatch).
	var idxBuf, lockedBuf [smallBatch]int
	var countsBuf [smallBatch]events.WindowCounts
	var ctrsBuf [smallBatch]*counter
	var wcBuf [smallBatch]events.WindowCheck
	var decidedBuf [smallBatch]events.WindowDecision
	idx, locked, counts, ctrs := idxBuf[:0], lockedBuf[:0], countsBuf[:0], ctrsBuf[:0]
	// Only checks of one batch can meet on a counter, so one check needs no
	// counter name (building it is a string per request).
	wc := appendWindowChecks(wcBuf[:0], checks, len(checks) > 1)
	for i, c := range checks {
		idx = append(idx, m.shardOf(c.Key, wc[i].DurationMs))
	}
	locked = append(locked, idx...)
	slices.Sort(locked)
	locked = slices.Compact(locked)
	for _, s := range locked {
		m.shards[s].mu.Lock()
	}
	for i, c := range checks {
		ctr := m.shards[idx[i]].get(counterKey{c.Key, wc[i].DurationMs})
		seq, _ := events.WindowOf(nowMs, wc[i].DurationMs)
		ctr.roll(seq)
		ctrs = append(ctrs, ctr)
		counts = append(counts, events.WindowCounts{Current: ctr.current, Previous: ctr.previous})
	}
	decided, all := events.AppendWindowDecisions(decidedBuf[:0], nowMs, wc, counts)
	if all {
		for i, c := range wc {
			ctrs[i].current += c.Cost
		}
	}
	for _, s := range locked {
		m.shards[s].mu.Unlock()
	}
	return toDecisions(checks, decided), nil
}

// smallBatch is how many checks Decide handles without allocating its
// working slices.
const smallBatch = 4

func (m *Memory) shardOf(key string, durationMs int64) int {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(key)
	return int((h.Sum64() ^ uint64(durationMs)) % shardCount)
}

func (s *shard) get(k counterKey) *counter {
	c, ok := s.m[k]
	if !ok {
		c = &counter{seq: -1 << 62}
		s.m[k] = c
		s.peak = max(s.peak, len(s.m))
	}
	return c
}

// roll moves the counter to window seq: the current count becomes the
// previous one when seq is the next window, and both reset after a gap.
// A request stamped slightly in the past (clocks of concurrent requests are
// read before the lock) counts in the newer window, which only ever makes
// the limiter stricter, never looser.
func (c *counter) roll(seq int64) {
	switch {
	case seq <= c.seq:
	case seq == c.seq+1:
		c.previous, c.current = c.current, 0
		c.seq = seq
	default:
		c.previous, c.current = 0, 0
		c.seq = seq
	}
}

// Sweep drops every counter whose current window ended more than one window
// before now: neither of its counts can matter again. It returns how many
// counters remain.
func (m *Memory) Sweep(now time.Time) int {
	nowMs := now.UnixMilli()
	left := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, c := range s.m {
			if seq, _ := events.WindowOf(nowMs, k.durationMs); c.seq < seq-1 {
				delete(s.m, k)
			}
		}
		if s.peak > 64 && len(s.m) < s.peak/4 {
			fresh := make(map[counterKey]*counter, len(s.m))
			for k, c := range s.m {
				fresh[k] = c
			}
			s.m, s.peak = fresh, len(fresh)
		}
		left += len(s.m)
		s.mu.Unlock()
	}
	return left
}

// Len is the number of counters held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].m)
		m.shards[i].mu.Unlock()
	}
	return n
}

// RunJanitor sweeps every interval until ctx ends.
func (m *Memory) RunJanitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.Sweep(now)
		}
	}
}

// appendWindowChecks maps the checks into the bounds every backend computes
// in (events.NewWindowCheck), so that no client value can overflow a counter
// and Redis decides exactly as memory does. named gives each check the name
// of its counter, which events.DecideWindows needs to see two checks of a
// batch meet on one counter.
func appendWindowChecks(dst []events.WindowCheck, checks []events.RatelimitCheck, named bool) []events.WindowCheck {
	for _, c := range checks {
		d := c.Duration.Milliseconds()
		if d < 1 {
			d = 1
		}
		d = min(d, events.MaxWindowDurationMs)
		var counter string
		if named {
			counter = c.Key + "\x00" + strconv.FormatInt(d, 10)
		}
		dst = append(dst, events.NewWindowCheck(counter, c.Limit, c.Cost, d))
	}
	return dst
}

func toDecisions(checks []events.RatelimitCheck, decided []events.WindowDecision) []events.RatelimitDecision {
	out := make([]events.RatelimitDecision, len(decided))
	for i, d := range decided {
		out[i] = events.RatelimitDecision{Passed: d.Passed, Limit: checks[i].Limit, Remaining: d.Remaining, Reset: d.Reset}
	}
	return out
}
