package ratelimit

import (
	"context"
	"fmt"
	"github.com/keyline/keyline/events"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRedisLimiter(t *testing.T, url string) *Redis {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialTimeout = 200 * time.Millisecond
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	return NewRedis(client, NewMemory(), quiet, RedisOptions{Prefix: testenv.RedisPrefixAt(t, url), RetryAfter: 50 * time.Millisecond})
}

// backends runs fn against every limiter implementation.
func backends(t *testing.T, fn func(t *testing.T, l handlers.Ratelimiter)) {
	t.Run("memory", func(t *testing.T) { fn(t, NewMemory()) })
	t.Run("redis", func(t *testing.T) {
		r := newRedisLimiter(t, testenv.RedisURL(t))
		// These tests are about what Redis decides, not how fast: on a
		// loaded machine 200 goroutines queueing for pooled connections
		// can outlast the production timeout, and the fail-open fallback
		// (tested on its own below) would then decide instead.
		r.timeout = 10 * time.Second
		t.Cleanup(func() {
			if r.Fallbacks() != 0 {
				t.Errorf("%d decisions fell back to memory with Redis up", r.Fallbacks())
			}
		})
		fn(t, r)
	})
}

func decide(t *testing.T, l handlers.Ratelimiter, now time.Time, checks ...events.RatelimitCheck) []events.RatelimitDecision {
	t.Helper()
	out, err := l.Decide(context.Background(), now, checks)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var base = time.UnixMilli(1_700_000_000_000) // start of a 10 s window

func TestSlidingWindowAcrossBackends(t *testing.T) {
	backends(t, func(t *testing.T, l handlers.Ratelimiter) {
		c := events.RatelimitCheck{Key: "ns:user", Limit: 10, Duration: 10 * time.Second, Cost: 1}
		for i := range 10 {
			d := decide(t, l, base.Add(time.Duration(i)*time.Millisecond), c)[0]
			want := events.RatelimitDecision{Passed: true, Limit: 10, Remaining: int64(9 - i), Reset: base.UnixMilli() + 10_000}
			if d != want {
				t.Fatalf("request %d: %+v, want %+v", i, d, want)
			}
		}
		if d := decide(t, l, base.Add(9*time.Second), c)[0]; d.Passed || d.Remaining != 0 {
			t.Fatalf("11th request in the window: %+v", d)
		}
		// Half-way through the next window, half of the previous 10 still count.
		d := decide(t, l, base.Add(15*time.Second), c)[0]
		if !d.Passed || d.Remaining != 4 || d.Reset != base.UnixMilli()+20_000 {
			t.Fatalf("50%% into the next window: %+v", d)
		}
		// A different duration is a different counter.
		other := c
		other.Duration = 20 * time.Second
		if d := decide(t, l, base.Add(9*time.Second), other)[0]; !d.Passed || d.Remaining != 9 {
			t.Fatalf("same key, other duration: %+v", d)
		}
		// Cost 0 checks without consuming.
		probe := c
		probe.Key, probe.Cost = "ns:probe", 0
		for range 3 {
			if d := decide(t, l, base, probe)[0]; !d.Passed || d.Remaining != 10 {
				t.Fatalf("pure check: %+v", d)
			}
		}
	})
}

func TestBatchIsAllOrNothingAcrossBackends(t *testing.T) {
	backends(t, func(t *testing.T, l handlers.Ratelimiter) {
		a := events.RatelimitCheck{Key: "a", Limit: 5, Duration: time.Minute, Cost: 2}
		b := events.RatelimitCheck{Key: "b", Limit: 1, Duration: time.Minute, Cost: 1}
		if got := decide(t, l, base, a, b); !got[0].Passed || !got[1].Passed {
			t.Fatalf("first batch: %+v", got)
		}
		got := decide(t, l, base, a, b)
		if !got[0].Passed || got[0].Remaining != 3 || got[1].Passed || got[1].Remaining != 0 {
			t.Fatalf("second batch: %+v (a passes alone with its cost added back, b fails)", got)
		}
		// Nothing was consumed by the failed batch: a alone still has 3.
		if d := decide(t, l, base, a)[0]; !d.Passed || d.Remaining != 1 {
			t.Fatalf("a after the failed batch: %+v", d)
		}
	})
}

// The Lua script and events.DecideWindows must agree on every input: the
// same random history, including big counts and long windows where float
// arithmetic would round, gives identical decisions from both backends.
func TestRedisScriptMatchesMemory(t *testing.T) {
	mem := NewMemory()
	red := newRedisLimiter(t, testenv.RedisURL(t))
	rng := rand.New(rand.NewPCG(7, 11))
	durations := []time.Duration{time.Second, 10 * time.Second, 7 * time.Hour, 30 * 24 * time.Hour,
		200 * 365 * 24 * time.Hour, math.MaxInt64}
	now := base
	for i := range 3000 {
		n := 1 + rng.IntN(3)
		checks := make([]events.RatelimitCheck, n)
		for j := range checks {
			limit := int64(1 + rng.IntN(20))
			cost := int64(rng.IntN(3))
			switch rng.IntN(8) {
			case 0, 1: // huge counters
				limit, cost = 1<<40, int64(rng.IntN(1<<30))
			case 2: // at and beyond the counters' bound
				limit = []int64{maxWindowValue, 1 << 53, math.MaxInt64}[rng.IntN(3)]
				cost = []int64{1, rng.Int64N(1 << 52), rng.Int64(), math.MaxInt64}[rng.IntN(4)]
			}
			checks[j] = events.RatelimitCheck{Key: fmt.Sprintf("k%d", rng.IntN(6)), Limit: limit,
				Duration: durations[rng.IntN(len(durations))], Cost: cost}
		}
		now = now.Add(time.Duration(rng.IntN(700)) * time.Millisecond)
		if rng.IntN(200) == 0 {
			now = now.Add(7 * time.Hour)
		}
		want := decide(t, mem, now, checks...)
		got := decide(t, red, now, checks...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d at %d, checks %+v:\nredis  %+v\nmemory %+v", i, now.UnixMilli(), checks, got, want)
		}
	}
}

// 200 goroutines hammering one counter admit exactly the limit.
func TestConcurrentDecisionsAreExact(t *testing.T) {
	backends(t, func(t *testing.T, l handlers.Ratelimiter) {
		const workers, perWorker, limit = 200, 10, 1000
		now := base.Add(time.Second)
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					d, err := l.Decide(context.Background(), now, []events.RatelimitCheck{{Key: "hot", Limit: limit, Duration: time.Minute, Cost: 1}})
					if err != nil {
						t.Error(err)
						return
					}
					if d[0].Passed {
						admitted.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != limit {
			t.Fatalf("admitted %d of %d requests, want exactly %d", admitted.Load(), workers*perWorker, limit)
		}
	})
}

// Redis stopped: decisions keep coming from memory and are counted; Redis
// back on the same port: decisions go to Redis again, without a new limiter.
func TestRedisOutageFallsBackAndRecovers(t *testing.T) {
	srv := testenv.StartRedis(t)
	l := newRedisLimiter(t, srv.URL)
	c := events.RatelimitCheck{Key: "outage", Limit: 100, Duration: time.Minute, Cost: 1}
	now := base.Add(time.Second)
	decide(t, l, now, c)
	if l.Fallbacks() != 0 {
		t.Fatal("fell back with Redis up")
	}
	srv.Stop()
	for i := range 5 {
		if d := decide(t, l, now, c)[0]; !d.Passed {
			t.Fatalf("request %d during the outage was denied: %+v", i, d)
		}
	}
	if l.Fallbacks() < 5 {
		t.Fatalf("fallbacks = %d, want at least 5", l.Fallbacks())
	}
	srv.Start()
	// Redis restarted empty; once the limiter is back on it, the counter
	// lives in Redis again and a second limiter on the same Redis shares it.
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		before := l.Fallbacks()
		decide(t, l, now, events.RatelimitCheck{Key: "probe", Limit: 1, Duration: time.Minute, Cost: 0})
		return l.Fallbacks() == before, fmt.Sprintf("still falling back (%d)", l.Fallbacks())
	})
	other := NewRedis(l.client, NewMemory(), quiet, RedisOptions{Prefix: l.prefix})
	fresh := events.RatelimitCheck{Key: "after", Limit: 3, Duration: time.Minute, Cost: 1}
	decide(t, l, now, fresh)
	decide(t, other, now, fresh)
	decide(t, l, now, fresh)
	if d := decide(t, other, now, fresh)[0]; d.Passed {
		t.Fatalf("4th request across two limiters sharing Redis passed: %+v", d)
	}
}

// Costs and limits anywhere in int64 cannot overflow a counter: a used-up
// window stays used up whatever the next cost, and limit = cost = MaxInt64
// fills an empty window once. On Redis none of this may make the script
// fail (backends fails the test on any fallback).
func TestHugeValuesCannotOverflowAcrossBackends(t *testing.T) {
	backends(t, func(t *testing.T, l handlers.Ratelimiter) {
		now := base.Add(time.Second)
		c := events.RatelimitCheck{Key: "ns:used-up", Limit: 100, Duration: time.Minute, Cost: 1}
		for i := range 100 {
			if d := decide(t, l, now, c)[0]; !d.Passed {
				t.Fatalf("request %d of 100 denied: %+v", i, d)
			}
		}
		huge := c
		huge.Cost = math.MaxInt64
		if d := decide(t, l, now, huge)[0]; d.Passed || d.Remaining != 0 || d.Limit != 100 {
			t.Fatalf("cost MaxInt64 on a used-up window: %+v", d)
		}
		for i := range 20 {
			if d := decide(t, l, now, c)[0]; d.Passed {
				t.Fatalf("request %d after the huge cost passed in a used-up window: %+v", i, d)
			}
		}
		// A huge cost on an empty window with a small limit is denied and
		// consumes nothing.
		fresh := events.RatelimitCheck{Key: "ns:fresh", Limit: 3, Duration: time.Minute, Cost: math.MaxInt64}
		if d := decide(t, l, now, fresh)[0]; d.Passed {
			t.Fatalf("cost MaxInt64 against limit 3 passed: %+v", d)
		}
		fresh.Cost = 1
		if d := decide(t, l, now, fresh)[0]; !d.Passed || d.Remaining != 2 {
			t.Fatalf("after a denied huge cost: %+v, want passed with 2 left", d)
		}

		max := events.RatelimitCheck{Key: "ns:max", Limit: math.MaxInt64, Duration: time.Minute, Cost: math.MaxInt64}
		if d := decide(t, l, now, max)[0]; !d.Passed || d.Remaining != 0 || d.Limit != math.MaxInt64 {
			t.Fatalf("limit = cost = MaxInt64 on an empty window: %+v, want passed with 0 left", d)
		}
		for _, cost := range []int64{math.MaxInt64, 1} {
			max.Cost = cost
			if d := decide(t, l, now, max)[0]; d.Passed {
				t.Fatalf("cost %d after the window was filled passed: %+v", cost, d)
			}
		}
		// Limits beyond the counters' bound behave as the bound.
		big := events.RatelimitCheck{Key: "ns:big", Limit: math.MaxInt64, Duration: time.Minute, Cost: 1}
		if d := decide(t, l, now, big)[0]; !d.Passed || d.Remaining != maxWindowValue-1 {
			t.Fatalf("limit MaxInt64, cost 1: %+v, want remaining %d", d, maxWindowValue-1)
		}
		// A duration of ~292 years (the largest time.Duration) is a window
		// like any other.
		long := events.RatelimitCheck{Key: "ns:long", Limit: 2, Duration: math.MaxInt64, Cost: 1}
		for i, want := range []bool{true, true, false} {
			if d := decide(t, l, now, long)[0]; d.Passed != want || d.Reset <= now.UnixMilli() {
				t.Fatalf("longest duration, request %d: %+v", i, d)
			}
		}
	})
}

// maxWindowValue is events.MaxWindowValue, spelled out so that a change of
// the bound is a deliberate change of this test too.
const maxWindowValue = 1<<51 - 1

// The Redis limiter's pause (decide everything locally for a while) must
// only follow failures of Redis itself. A batch that Redis rejects (here a
// counter key holding a list, which GET refuses with WRONGTYPE) or values
// that once made the script fail, sent from one workspace, must not move
// another workspace's decisions off Redis: its used-up identifier stays
// denied, decided by Redis.
func TestOneBadBatchDoesNotSwitchOthersToLocalCounters(t *testing.T) {
	r := newRedisLimiter(t, testenv.RedisURL(t))
	r.timeout = 10 * time.Second
	now := base.Add(time.Second)
	victim := events.RatelimitCheck{Key: "ns_victim:user", Limit: 5, Duration: time.Minute, Cost: 1}
	for i := range 5 {
		if d := decide(t, r, now, victim)[0]; !d.Passed {
			t.Fatalf("victim request %d denied: %+v", i, d)
		}
	}

	// Values at the end of int64 from another workspace.
	attacker := events.RatelimitCheck{Key: "ns_attacker:x", Limit: math.MaxInt64, Duration: 30 * 24 * time.Hour, Cost: math.MaxInt64}
	for range 3 {
		decide(t, r, now, attacker)
		if d := decide(t, r, now, victim)[0]; d.Passed {
			t.Fatalf("victim's used-up identifier passed after huge values elsewhere: %+v", d)
		}
	}
	if r.Fallbacks() != 0 {
		t.Fatalf("%d decisions fell back to local counters after huge values", r.Fallbacks())
	}

	// A batch Redis answers with an error reply.
	seq, _ := events.WindowOf(now.UnixMilli(), 60_000)
	broken := r.prefix + "ns_attacker:broken\x0060000\x00" + strconv.FormatInt(seq, 10)
	if err := r.client.LPush(context.Background(), broken, "x").Err(); err != nil {
		t.Fatal(err)
	}
	bad := events.RatelimitCheck{Key: "ns_attacker:broken", Limit: 10, Duration: time.Minute, Cost: 1}
	for range 3 {
		if d := decide(t, r, now, bad)[0]; !d.Passed {
			t.Fatalf("the rejected batch is decided locally, failing open: %+v", d)
		}
		before := r.Fallbacks()
		if d := decide(t, r, now, victim)[0]; d.Passed {
			t.Fatalf("victim's used-up identifier passed after another batch's error reply: %+v", d)
		}
		if r.Fallbacks() != before {
			t.Fatalf("the victim's decision fell back to local counters (%d -> %d)", before, r.Fallbacks())
		}
	}
	if r.Fallbacks() != 3 {
		t.Fatalf("fallbacks = %d, want 3 (the rejected batches only)", r.Fallbacks())
	}
}
