package events

import (
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// t0 starts a 10 s window: 1_700_000_000_000 is a multiple of 10_000.
const (
	t0  int64 = 1_700_000_000_000
	dur int64 = 10_000
)

func TestDecideWindowArithmetic(t *testing.T) {
	cases := []struct {
		name          string
		nowMs         int64
		limit, cost   int64
		counts        WindowCounts
		wantPassed    bool
		wantRemaining int64
		wantReset     int64
	}{
		{"empty counter", t0 + 1234, 10, 1, WindowCounts{}, true, 9, t0 + dur},
		{"exactly at a boundary the previous window counts fully (0% elapsed)", t0, 100, 1,
			WindowCounts{Current: 0, Previous: 100}, false, 0, t0 + dur},
		{"at a boundary with room left", t0, 100, 1, WindowCounts{Current: 0, Previous: 60}, true, 39, t0 + dur},
		{"1 ms before a boundary belongs to the window that is ending", t0 - 1, 100, 1,
			WindowCounts{Current: 5, Previous: 100}, true, 94, t0},
		{"1 ms before a boundary the previous window weighs 1/10000", t0 - 1, 100, 1,
			WindowCounts{Current: 5, Previous: 20000}, true, 92, t0},
		{"50% elapsed halves the previous count, rounding down", t0 + dur/2, 100, 1,
			WindowCounts{Current: 10, Previous: 101}, true, 39, t0 + dur},
		{"99.9% elapsed leaves 0.1% of the previous count", t0 + 9990, 100, 1,
			WindowCounts{Current: 0, Previous: 1000}, true, 98, t0 + dur},
		{"99.9% elapsed, a small previous count rounds to nothing", t0 + 9990, 100, 1,
			WindowCounts{Current: 99, Previous: 999}, true, 0, t0 + dur},
		{"cost 0 is a pure check at the limit", t0 + 1, 100, 0, WindowCounts{Current: 100}, true, 0, t0 + dur},
		{"cost 0 is a pure check below the limit", t0 + 1, 100, 0, WindowCounts{Current: 50}, true, 50, t0 + dur},
		{"cost 0 over the limit fails", t0 + 1, 10, 0, WindowCounts{Current: 8, Previous: 100}, false, 0, t0 + dur},
		{"cost greater than the limit never passes", t0 + 1, 10, 11, WindowCounts{}, false, 0, t0 + dur},
		{"cost equal to the limit passes on an empty counter", t0 + 1, 10, 10, WindowCounts{}, true, 0, t0 + dur},
		{"reaching the limit exactly passes with 0 remaining", t0 + 1, 10, 1, WindowCounts{Current: 9}, true, 0, t0 + dur},
		{"one past the limit fails", t0 + 1, 10, 1, WindowCounts{Current: 10}, false, 0, t0 + dur},
		{"limit 0 (an override) denies any cost", t0 + 1, 0, 1, WindowCounts{}, false, 0, t0 + dur},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, all := DecideWindows(tc.nowMs, []WindowCheck{{Counter: "c", Limit: tc.limit, DurationMs: dur, Cost: tc.cost}},
				[]WindowCounts{tc.counts})
			want := WindowDecision{Passed: tc.wantPassed, Remaining: tc.wantRemaining, Reset: tc.wantReset}
			if all != tc.wantPassed || got[0] != want {
				t.Fatalf("decision = %+v (all %v), want %+v", got[0], all, want)
			}
		})
	}
}

func TestDecideWindowsIsAllOrNothing(t *testing.T) {
	checks := []WindowCheck{
		{Counter: "a", Limit: 10, DurationMs: dur, Cost: 2},
		{Counter: "b", Limit: 5, DurationMs: dur, Cost: 1},
	}
	got, all := DecideWindows(t0+100, checks, []WindowCounts{{Current: 3}, {Current: 5}})
	want := []WindowDecision{
		// a passes on its own; nothing was consumed, so its cost is added back.
		{Passed: true, Remaining: 7, Reset: t0 + dur},
		{Passed: false, Remaining: 0, Reset: t0 + dur},
	}
	if all || !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions = %+v (all %v), want %+v", got, all, want)
	}
	got, all = DecideWindows(t0+100, checks, []WindowCounts{{Current: 3}, {Current: 1}})
	want = []WindowDecision{{Passed: true, Remaining: 5, Reset: t0 + dur}, {Passed: true, Remaining: 3, Reset: t0 + dur}}
	if !all || !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions = %+v (all %v), want %+v", got, all, want)
	}
}

func TestDecideWindowsSameCounterTwiceInOneBatch(t *testing.T) {
	c := WindowCheck{Counter: "a", Limit: 3, DurationMs: dur, Cost: 2}
	got, all := DecideWindows(t0, []WindowCheck{c, c}, []WindowCounts{{}, {}})
	if all || !got[0].Passed || got[1].Passed {
		t.Fatalf("two checks of cost 2 against limit 3 on one counter: %+v (all %v)", got, all)
	}
}

func TestWindowOf(t *testing.T) {
	for _, tc := range []struct{ now, seq, start int64 }{
		{t0, t0 / dur, t0}, {t0 - 1, t0/dur - 1, t0 - dur}, {t0 + dur - 1, t0 / dur, t0},
		{0, 0, 0}, {-1, -1, -dur},
	} {
		if seq, start := WindowOf(tc.now, dur); seq != tc.seq || start != tc.start {
			t.Errorf("WindowOf(%d) = %d, %d; want %d, %d", tc.now, seq, start, tc.seq, tc.start)
		}
	}
}

// WeightedPrevious must equal floor(previous*(duration-elapsed)/duration)
// exactly, even where a float64 would round.
func TestWeightedPreviousIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(prev, elapsed, d int64) {
		t.Helper()
		want := new(big.Int).Mul(big.NewInt(prev), big.NewInt(d-elapsed))
		want.Quo(want, big.NewInt(d))
		if got := WeightedPrevious(prev, elapsed, d); got != want.Int64() {
			t.Fatalf("WeightedPrevious(%d, %d, %d) = %d, want %s", prev, elapsed, d, got, want)
		}
	}
	check(1<<62, 1, 2_592_000_000)
	check(10, 3000, 10_000) // 10*0.7 is 6.999... in float64
	for range 100_000 {
		d := 1000 + rng.Int64N(2_592_000_000-1000)
		check(rng.Int64N(1<<62), rng.Int64N(d), d)
		check(rng.Int64N(10_000), rng.Int64N(d), d)
	}
}

// A simulated counter driven only by DecideWindows never admits more than
// the limit in any one window, and admits exactly the limit in a busy first
// window.
func TestSimulatedCounterRespectsLimit(t *testing.T) {
	const limit = 50
	var seq int64 = -1
	var counts WindowCounts
	admittedIn := map[int64]int64{}
	for now := t0; now < t0+5*dur; now += 37 {
		s, _ := WindowOf(now, dur)
		switch {
		case s == seq+1:
			counts = WindowCounts{Previous: counts.Current}
		case s != seq:
			counts = WindowCounts{}
		}
		seq = s
		d, ok := DecideWindows(now, []WindowCheck{{Counter: "c", Limit: limit, DurationMs: dur, Cost: 1}}, []WindowCounts{counts})
		if ok {
			counts.Current++
			admittedIn[s]++
		} else if d[0].Remaining != 0 {
			t.Fatalf("denied with remaining %d", d[0].Remaining)
		}
	}
	if admittedIn[t0/dur] != limit {
		t.Fatalf("first window admitted %d, want %d", admittedIn[t0/dur], limit)
	}
	for s, n := range admittedIn {
		if n > limit {
			t.Fatalf("window %d admitted %d > %d", s, n, limit)
		}
	}
}

// Client values anywhere in int64 map into the counters' bounds without
// changing a decision that fits them.
func TestNewWindowCheckBounds(t *testing.T) {
	const maxV = MaxWindowValue
	cases := []struct {
		name                  string
		limit, cost, duration int64
		want                  WindowCheck
	}{
		{"ordinary values are kept", 100, 3, 60_000, WindowCheck{Limit: 100, Cost: 3, DurationMs: 60_000}},
		{"a cost above the limit stays above it", 100, math.MaxInt64, 60_000, WindowCheck{Limit: 100, Cost: 101, DurationMs: 60_000}},
		{"limit = cost = MaxInt64 fills the clamped window", math.MaxInt64, math.MaxInt64, 1000, WindowCheck{Limit: maxV, Cost: maxV, DurationMs: 1000}},
		{"a cost above a huge limit stays above the clamped one", math.MaxInt64 - 1, math.MaxInt64, 1000, WindowCheck{Limit: maxV, Cost: maxV + 1, DurationMs: 1000}},
		{"a negative cost is a pure check", 10, -5, 1000, WindowCheck{Limit: 10, Cost: 0, DurationMs: 1000}},
		{"a negative limit is 0", -1, 0, 1000, WindowCheck{Limit: 0, Cost: 1, DurationMs: 1000}},
		{"durations are clamped on both ends", 10, 1, math.MaxInt64, WindowCheck{Limit: 10, Cost: 1, DurationMs: MaxWindowDurationMs}},
		{"a zero duration is 1 ms", 10, 1, 0, WindowCheck{Limit: 10, Cost: 1, DurationMs: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NewWindowCheck("c", tc.limit, tc.cost, tc.duration)
			tc.want.Counter = "c"
			if got != tc.want {
				t.Fatalf("NewWindowCheck(%d, %d, %d) = %+v, want %+v", tc.limit, tc.cost, tc.duration, got, tc.want)
			}
		})
	}
}

// DecideWindows itself never overflows, even on raw int64 values: a used-up
// counter stays used up for a cost of MaxInt64, and saturated counts deny.
func TestDecideWindowsDoesNotOverflow(t *testing.T) {
	check := func(limit, cost int64, counts WindowCounts) WindowDecision {
		d, _ := DecideWindows(t0+1, []WindowCheck{{Counter: "c", Limit: limit, DurationMs: dur, Cost: cost}}, []WindowCounts{counts})
		return d[0]
	}
	if d := check(100, math.MaxInt64, WindowCounts{Current: 100}); d.Passed {
		t.Fatalf("cost MaxInt64 on a used-up window passed: %+v", d)
	}
	if d := check(math.MaxInt64, math.MaxInt64, WindowCounts{}); !d.Passed || d.Remaining != 0 {
		t.Fatalf("limit = cost = MaxInt64 on an empty window: %+v", d)
	}
	if d := check(math.MaxInt64, 1, WindowCounts{Current: math.MaxInt64, Previous: math.MaxInt64}); d.Passed {
		t.Fatalf("saturated counts passed: %+v", d)
	}
	// Two checks on one counter in one batch: the second sees the first's
	// MaxInt64 without wrapping.
	got, all := DecideWindows(t0+1, []WindowCheck{
		{Counter: "c", Limit: math.MaxInt64, DurationMs: dur, Cost: math.MaxInt64},
		{Counter: "c", Limit: math.MaxInt64, DurationMs: dur, Cost: 1},
	}, []WindowCounts{{}, {}})
	if all || !got[0].Passed || got[1].Passed || got[0].Remaining != math.MaxInt64 {
		t.Fatalf("batch on one counter: %+v (all %v)", got, all)
	}
}

func TestDurationFromMsSaturates(t *testing.T) {
	if got := DurationFromMs(1500); got != 1500*time.Millisecond {
		t.Fatalf("1500 ms = %v", got)
	}
	if got := DurationFromMs(math.MaxInt64); got != math.MaxInt64 {
		t.Fatalf("MaxInt64 ms = %v, want the largest Duration", got)
	}
	if got := DurationFromMs(math.MaxInt64 / 1_000_000); got <= 0 {
		t.Fatalf("the largest exact ms count wrapped: %v", got)
	}
}
