package events

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

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

// Bounds of what a counter holds. Limits, costs and durations come from
// clients (ratelimit.limit takes any int64, key and identity configs too),
// while the Redis backend computes in Lua, whose numbers are doubles and
// exact only below 2^53. NewWindowCheck maps every int64 into these bounds,
// for every backend alike, so the backends keep deciding the same way and
// nothing a client sends can overflow or round:
//
//   - MaxWindowValue bounds limits and costs, hence counts: a pass needs
//     count+cost <= limit, so a count never exceeds the largest limit
//     applied to it. The Lua script sums at most four such values (current,
//     pending, weighted previous, cost), and 4*(2^51-1) < 2^53.
//   - MaxWindowDurationMs (about 278 years) bounds durations; the script's
//     weighting multiplies a remainder below the duration by 2^9, which
//     stays below 2^53.
const (
	MaxWindowValue      int64 = 1<<51 - 1
	MaxWindowDurationMs int64 = 1<<43 - 1
)

// NewWindowCheck builds the check of counter from a client's limit, cost
// and duration (ms), mapped into the bounds above without changing any
// decision for values within them:
//
//   - the duration is clamped to [1, MaxWindowDurationMs];
//   - the limit is clamped to [0, MaxWindowValue]: a limit above it
//     behaves as MaxWindowValue (over 2.2e15 per window);
//   - a negative cost is 0; a cost above the client's limit can never pass,
//     and becomes the clamped limit + 1, which cannot pass either; a cost
//     within the limit is clamped like the limit, so limit = cost = MaxInt64
//     passes once on an empty window and fills it, as it would unclamped.
func NewWindowCheck(counter string, limit, cost, durationMs int64) WindowCheck {
	durationMs = min(max(durationMs, 1), MaxWindowDurationMs)
	clampedLimit := min(max(limit, 0), MaxWindowValue)
	switch {
	case cost < 0:
		cost = 0
	case cost > limit:
		cost = clampedLimit + 1
	default:
		cost = min(cost, clampedLimit)
	}
	return WindowCheck{Counter: counter, Limit: clampedLimit, DurationMs: durationMs, Cost: cost}
}

// DurationFromMs converts a client's millisecond count to a Duration,
// saturating instead of wrapping: time.Duration(ms)*time.Millisecond
// overflows above about 292 years and would turn a long window into a
// negative one.
func DurationFromMs(ms int64) time.Duration {
	const maxMs = int64(math.MaxInt64 / time.Millisecond)
	switch {
	case ms > maxMs:
		return math.MaxInt64
	case ms < -maxMs:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// addSat adds two non-negative counts, saturating at MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
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
// The arithmetic cannot overflow for any int64 input (sums saturate and the
// test is cost <= limit-effective), though backends pass checks built by
// NewWindowCheck so that Redis, which computes in doubles, agrees.
//
// A check that passed on its own inside a failed batch reports the remaining
// it would have had without consuming, that is with its cost added back,
// because nothing was consumed (Unkey's multiLimit rule). A denied check
// reports 0.
func DecideWindows(nowMs int64, checks []WindowCheck, counts []WindowCounts) ([]WindowDecision, bool) {
	return AppendWindowDecisions(make([]WindowDecision, 0, len(checks)), nowMs, checks, counts)
}

// AppendWindowDecisions is DecideWindows appending to dst, so that a caller
// deciding a few checks can keep the decisions in a buffer of its own.
func AppendWindowDecisions(dst []WindowDecision, nowMs int64, checks []WindowCheck, counts []WindowCounts) ([]WindowDecision, bool) {
	base := len(dst)
	dst = slices.Grow(dst, len(checks))[:base+len(checks)]
	out := dst[base:]
	all := true
	// Cost already taken by earlier checks of this batch on the same counter.
	var pending map[string]int64
	for i, c := range checks {
		_, start := WindowOf(nowMs, c.DurationMs)
		effective := addSat(addSat(max(counts[i].Current, 0), pending[c.Counter]),
			WeightedPrevious(counts[i].Previous, nowMs-start, c.DurationMs))
		d := WindowDecision{Reset: start + c.DurationMs}
		if cost := max(c.Cost, 0); effective <= c.Limit && cost <= c.Limit-effective {
			d.Passed = true
			d.Remaining = c.Limit - effective - cost
			// Only a later check of the batch can meet the same counter: a
			// single check (the common ratelimit.limit) needs no map.
			if cost > 0 && i < len(checks)-1 {
				if pending == nil {
					pending = map[string]int64{}
				}
				pending[c.Counter] += cost
			}
		} else {
			all = false
		}
		out[i] = d
	}
	if !all {
		for i := range out {
			if out[i].Passed {
				out[i].Remaining = min(checks[i].Limit, addSat(out[i].Remaining, max(checks[i].Cost, 0)))
			}
		}
	}
	return dst, all
}
