package events

import "math/bits"

// Sliding-window rate limiting, as Unkey computes it. Windows are aligned on
// the epoch (window n spans [n*duration, (n+1)*duration) in unix ms), and the
// previous window's count is weighted by how much of it still overlaps a
// window of one duration ending now. Every backend (memory, Redis) stores the
// two counts and leaves the arithmetic to this file, so a decision is the same
// whichever backend made it; the Redis Lua script mirrors it and a contract
// test compares the two.

// WindowCheck is one limit evaluated within a batch.
type WindowCheck struct {
	// Counter identifies the counter; checks with the same Counter in one
	// batch see each other's cost, as if they ran one after the other.
	Counter    string
	Limit      int64
	DurationMs int64
	// Cost is what a pass consumes; 0 is a pure check.
	Cost int64
}

// WindowCounts are what a backend stored for a counter: the count of the
// window containing now, and of the one just before it.
type WindowCounts struct {
	Current  int64
	Previous int64
}

// WindowDecision is the outcome of one check.
type WindowDecision struct {
	Passed bool
	// Remaining is what is left after this request: 0 on denial.
	Remaining int64
	// Reset is the end of the current window, unix ms.
	Reset int64
}

// WindowOf returns the aligned window containing nowMs: its sequence number
// and its start, both floor-divided so instants before the epoch still fall
// into the window that contains them.
func WindowOf(nowMs, durationMs int64) (seq, startMs int64) {
	seq = nowMs / durationMs
	if nowMs%durationMs < 0 {
		seq--
	}
	return seq, seq * durationMs
}

// WeightedPrevious is floor(previous * (1 - elapsed/duration)), the share of
// the previous window that still counts. It is computed as
// floor(previous*(duration-elapsed)/duration) on 128-bit integers, so it is
// exact for every count and duration instead of rounding like a float would.
func WeightedPrevious(previous, elapsedMs, durationMs int64) int64 {
	if previous <= 0 || elapsedMs >= durationMs {
		return 0
	}
	if elapsedMs <= 0 {
		return previous
	}
	hi, lo := bits.Mul64(uint64(previous), uint64(durationMs-elapsedMs))
	// hi < durationMs because durationMs-elapsedMs < durationMs, so Div64
	// cannot overflow.
	q, _ := bits.Div64(hi, lo, uint64(durationMs))
	return int64(q)
}

// DecideWindows evaluates a batch of checks at nowMs, all or nothing: the
// batch passes only if every check passes, and only then may the caller add
// each check's cost to its counter's current window. counts[i] holds what
// the backend stored for checks[i].
//
// A check that passed on its own inside a failed batch reports the remaining
// it would have had without consuming, that is with its cost added back,
// because nothing was consumed (Unkey's multiLimit rule). A denied check
// reports 0.
func DecideWindows(nowMs int64, checks []WindowCheck, counts []WindowCounts) ([]WindowDecision, bool) {
	out := make([]WindowDecision, len(checks))
	all := true
	// Cost already taken by earlier checks of this batch on the same counter.
	var pending map[string]int64
	for i, c := range checks {
		_, start := WindowOf(nowMs, c.DurationMs)
		effective := counts[i].Current + pending[c.Counter] +
			WeightedPrevious(counts[i].Previous, nowMs-start, c.DurationMs)
		d := WindowDecision{Reset: start + c.DurationMs}
		if effective+c.Cost <= c.Limit {
			d.Passed = true
			d.Remaining = max(0, c.Limit-(effective+c.Cost))
			if c.Cost > 0 {
				if pending == nil {
					pending = map[string]int64{}
				}
				pending[c.Counter] += c.Cost
			}
		} else {
			all = false
		}
		out[i] = d
	}
	if !all {
		for i := range out {
			if out[i].Passed {
				out[i].Remaining = min(checks[i].Limit, out[i].Remaining+checks[i].Cost)
			}
		}
	}
	return out, all
}
