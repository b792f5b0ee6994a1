package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/events"
)

// decideScript decides one batch atomically inside Redis. It mirrors
// events.DecideWindows line by line (a contract test runs both on the same
// inputs), because Redis must read, decide and increment in one step for
// nodes sharing it to admit exactly the limit.
//
// KEYS: per check, its current-window key and its previous-window key.
// ARGV: per check, limit, cost, duration ms, the ms left in the window and
// the counter's TTL in ms.
// Returns: all-passed flag, then passed flag and remaining per check.
//
// Lua numbers are doubles, exact only below 2^53. The checks arrive within
// events.NewWindowCheck's bounds (limits and costs below 2^51, durations
// below 2^43), so the sums below stay exact, and the weighting
// floor(prev*left/dur) is done in integer steps: floor(prev/dur)*left plus
// floor(r*left/dur) with r = prev mod dur, the latter by long division over
// 8-bit chunks of left, whose partial values stay below dur*2^9 <= 2^52.
// INCRBY and PEXPIRE take their arguments as the decimal strings Go sent:
// Redis would format a Lua number with 14 significant digits.
var decideScript = redis.NewScript(`
local function idiv(a, d)
  local q = math.floor(a / d)
  if q * d > a then q = q - 1 elseif (q + 1) * d <= a then q = q + 1 end
  return q
end
local function weighted(p, left, dur)
  if p <= 0 or left <= 0 then return 0 end
  if left >= dur then return p end
  local q = idiv(p, dur)
  local r = p - q * dur
  local acc, rem = 0, 0
  for shift = 40, 0, -8 do
    local chunk = math.floor(left / 2^shift) % 256
    local t = rem * 256 + r * chunk
    local d = idiv(t, dur)
    acc = acc * 256 + d
    rem = t - d * dur
  end
  return q * left + acc
end
local n = #KEYS / 2
local pending = {}
local passed = {}
local remaining = {}
local all = true
for i = 1, n do
  local cur = KEYS[2*i-1]
  local limit = tonumber(ARGV[5*i-4])
  local cost = tonumber(ARGV[5*i-3])
  local dur = tonumber(ARGV[5*i-2])
  local left = tonumber(ARGV[5*i-1])
  local c = tonumber(redis.call('GET', cur) or '0') + (pending[cur] or 0)
  local p = tonumber(redis.call('GET', KEYS[2*i]) or '0')
  local effective = c + weighted(p, left, dur)
  if effective <= limit and cost <= limit - effective then
    passed[i] = 1
    remaining[i] = limit - effective - cost
    pending[cur] = (pending[cur] or 0) + cost
  else
    passed[i] = 0
    remaining[i] = 0
    all = false
  end
end
local out = {all and 1 or 0}
for i = 1, n do
  local limit = tonumber(ARGV[5*i-4])
  local cost = tonumber(ARGV[5*i-3])
  if all then
    if cost > 0 then
      redis.call('INCRBY', KEYS[2*i-1], ARGV[5*i-3])
      redis.call('PEXPIRE', KEYS[2*i-1], ARGV[5*i])
    end
  elseif passed[i] == 1 then
    remaining[i] = math.min(limit, remaining[i] + cost)
  end
  out[#out+1] = passed[i]
  out[#out+1] = remaining[i]
end
return out
`)

// Redis is the shared limiter. Decisions are exact across every node using
// the same Redis and key prefix.
type Redis struct {
	client   *redis.Client
	prefix   string
	fallback *Memory
	logger   *slog.Logger
	// retryAfter is how long decisions stay local after a Redis failure
	// before Redis is tried again: long enough that an outage does not add
	// a failing round trip to every request, short enough to recover fast.
	retryAfter time.Duration
	timeout    time.Duration

	downUntil atomic.Int64 // unix ns; 0 while Redis answers
	fallbacks atomic.Int64
	lastLog   atomic.Int64 // unix ns of the last outage log line
}

// RedisOptions tunes the Redis limiter; zero values take the defaults.
type RedisOptions struct {
	// Prefix starts every counter key. Default "keyline:rl:".
	Prefix string
	// RetryAfter is the pause after a failure before trying Redis again.
	// Default 250 ms.
	RetryAfter time.Duration
	// Timeout bounds one script call. Default 500 ms.
	Timeout time.Duration
}

// NewRedis builds a limiter over client, falling back to fallback.
func NewRedis(client *redis.Client, fallback *Memory, logger *slog.Logger, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "keyline:rl:"
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 250 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	return &Redis{client: client, prefix: opts.Prefix, fallback: fallback, logger: logger,
		retryAfter: opts.RetryAfter, timeout: opts.Timeout}
}

// Fallbacks counts the decisions made locally because Redis failed or was
// being given a pause after a failure.
func (r *Redis) Fallbacks() int64 { return r.fallbacks.Load() }

// FallingBack reports whether decisions are local: Redis failed and has not
// answered since.
func (r *Redis) FallingBack() bool { return r.downUntil.Load() != 0 }

// Decide implements handlers.Ratelimiter. Redis errors never reach the
// caller: the batch is decided on the local fallback instead.
//
// The pause that sends every decision to the fallback (the breaker) opens
// only on failures of Redis itself: no connection, no answer in time, or a
// reply saying the server cannot serve (see serverDown). An error reply
// about this batch (a script error, a counter key of the wrong type) says
// nothing about other batches, so only this batch is decided locally; were
// it to open the breaker, one client sending a bad batch every few hundred
// milliseconds would switch every workspace to per-node counters.
func (r *Redis) Decide(ctx context.Context, now time.Time, checks []events.RatelimitCheck) ([]events.RatelimitDecision, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	if until := r.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		r.fallbacks.Add(1)
		return r.fallback.Decide(ctx, now, checks)
	}
	out, err := r.decide(ctx, now, checks)
	if err == nil {
		r.downUntil.Store(0)
		return out, nil
	}
	if ctx.Err() != nil {
		// The client went away; that says nothing about Redis.
		return nil, ctx.Err()
	}
	down := serverDown(err)
	if down {
		r.downUntil.Store(time.Now().Add(r.retryAfter).UnixNano())
	}
	r.fallbacks.Add(1)
	r.logOutage(err, down)
	return r.fallback.Decide(ctx, now, checks)
}

// serverDown reports whether err means Redis cannot decide any batch right
// now, as opposed to failing on this one. Transport errors and timeouts do;
// of the error replies, only those describing the server's state do.
func serverDown(err error) bool {
	var batch *batchError
	if errors.As(err, &batch) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	code, _, _ := strings.Cut(reply.Error(), " ")
	switch code {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "OOM", "MISCONF", "NOREPLICAS", "NOPERM", "NOAUTH":
		return true
	}
	return false
}

// batchError is a malformed answer to one batch.
type batchError struct{ err error }

func (e *batchError) Error() string { return e.err.Error() }
func (e *batchError) Unwrap() error { return e.err }

func (r *Redis) decide(ctx context.Context, now time.Time, checks []events.RatelimitCheck) ([]events.RatelimitDecision, error) {
	nowMs := now.UnixMilli()
	wc := appendWindowChecks(make([]events.WindowCheck, 0, len(checks)), checks, false) // the script keys counters itself
	keys := make([]string, 0, 2*len(checks))
	args := make([]any, 0, 4*len(checks))
	resets := make([]int64, len(checks))
	for i, c := range checks {
		d := wc[i].DurationMs
		seq, start := events.WindowOf(nowMs, d)
		base := r.prefix + c.Key + "\x00" + strconv.FormatInt(d, 10) + "\x00"
		keys = append(keys, base+strconv.FormatInt(seq, 10), base+strconv.FormatInt(seq-1, 10))
		// The TTL keeps a window while it can still weigh into the next.
		args = append(args, wc[i].Limit, wc[i].Cost, d, start+d-nowMs, strconv.FormatInt(2*d, 10))
		resets[i] = start + d
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := decideScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 1+2*len(checks) {
		return nil, &batchError{fmt.Errorf("ratelimit script returned %d values for %d checks", len(res), len(checks))}
	}
	out := make([]events.RatelimitDecision, len(checks))
	for i, c := range checks {
		out[i] = events.RatelimitDecision{Passed: res[1+2*i] == 1, Limit: c.Limit, Remaining: res[2+2*i], Reset: resets[i]}
	}
	return out, nil
}

// logOutage logs at most one line every 5 s: during an outage every request
// fails the same way, and a line per request would drown the log.
func (r *Redis) logOutage(err error, down bool) {
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(5*time.Second) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", r.timeout)
	}
	msg := "redis rate limiter failed; deciding locally (fail open) until it answers again"
	if !down {
		msg = "redis rate limiter rejected a batch; that batch was decided locally (fail open)"
	}
	r.logger.Log(context.Background(), level, msg, "error", err, "fallbacks", r.fallbacks.Load())
}
