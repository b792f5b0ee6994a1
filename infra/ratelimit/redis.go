package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
// ARGV: per check, limit, cost, duration ms and the ms left in the window.
// Returns: all-passed flag, then passed flag and remaining per check.
//
// Lua numbers are doubles, so the weighting is done in integer steps that
// stay below 2^53: floor(prev*left/dur) is split as
// floor(prev/dur)*left + floor(r*left/dur) with r = prev mod dur, and r*left
// (up to 2^64) is split again on 16-bit halves of left.
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
  local hi = math.floor(left / 65536)
  local lo = left - hi * 65536
  local x = r * hi
  local x1 = idiv(x, dur)
  local x2 = x - x1 * dur
  return q * left + x1 * 65536 + idiv(x2 * 65536 + r * lo, dur)
end
local n = #KEYS / 2
local pending = {}
local passed = {}
local remaining = {}
local all = true
for i = 1, n do
  local cur = KEYS[2*i-1]
  local limit = tonumber(ARGV[4*i-3])
  local cost = tonumber(ARGV[4*i-2])
  local dur = tonumber(ARGV[4*i-1])
  local left = tonumber(ARGV[4*i])
  local c = tonumber(redis.call('GET', cur) or '0') + (pending[cur] or 0)
  local p = tonumber(redis.call('GET', KEYS[2*i]) or '0')
  local effective = c + weighted(p, left, dur)
  if effective + cost <= limit then
    passed[i] = 1
    remaining[i] = limit - (effective + cost)
    pending[cur] = (pending[cur] or 0) + cost
  else
    passed[i] = 0
    remaining[i] = 0
    all = false
  end
end
local out = {all and 1 or 0}
for i = 1, n do
  local limit = tonumber(ARGV[4*i-3])
  local cost = tonumber(ARGV[4*i-2])
  local dur = tonumber(ARGV[4*i-1])
  if all then
    if cost > 0 then
      redis.call('INCRBY', KEYS[2*i-1], cost)
      redis.call('PEXPIRE', KEYS[2*i-1], 2 * dur)
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

// Decide implements handlers.RateLimiter. Redis errors never reach the
// caller: the batch is decided on the local fallback instead.
func (r *Redis) Decide(ctx context.Context, now time.Time, checks []events.RateLimitCheck) ([]events.RateLimitDecision, error) {
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
	r.downUntil.Store(time.Now().Add(r.retryAfter).UnixNano())
	r.fallbacks.Add(1)
	r.logOutage(err)
	return r.fallback.Decide(ctx, now, checks)
}

func (r *Redis) decide(ctx context.Context, now time.Time, checks []events.RateLimitCheck) ([]events.RateLimitDecision, error) {
	nowMs := now.UnixMilli()
	wc := toWindowChecks(checks)
	keys := make([]string, 0, 2*len(checks))
	args := make([]any, 0, 4*len(checks))
	resets := make([]int64, len(checks))
	for i, c := range checks {
		d := wc[i].DurationMs
		seq, start := events.WindowOf(nowMs, d)
		base := r.prefix + c.Key + "\x00" + strconv.FormatInt(d, 10) + "\x00"
		keys = append(keys, base+strconv.FormatInt(seq, 10), base+strconv.FormatInt(seq-1, 10))
		args = append(args, c.Limit, wc[i].Cost, d, start+d-nowMs)
		resets[i] = start + d
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := decideScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 1+2*len(checks) {
		return nil, fmt.Errorf("ratelimit script returned %d values for %d checks", len(res), len(checks))
	}
	out := make([]events.RateLimitDecision, len(checks))
	for i, c := range checks {
		out[i] = events.RateLimitDecision{Passed: res[1+2*i] == 1, Limit: c.Limit, Remaining: res[2+2*i], Reset: resets[i]}
	}
	return out, nil
}

// logOutage logs at most one line every 5 s: during an outage every request
// fails the same way, and a line per request would drown the log.
func (r *Redis) logOutage(err error) {
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(5*time.Second) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", r.timeout)
	}
	r.logger.Log(context.Background(), level, "redis rate limiter failed; deciding locally (fail open) until it answers again",
		"error", err, "fallbacks", r.fallbacks.Load())
}
