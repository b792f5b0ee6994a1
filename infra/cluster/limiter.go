package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/ratelimit"
)

// Retries of a forward whose connection could not be opened: the request
// never reached the owner, so trying again cannot count it twice. The pause
// doubles from forwardBackoff; all of it stays within the forward timeout.
const (
	forwardRetries = 2
	forwardBackoff = 25 * time.Millisecond
)

// failureLogEvery is the least time between two summaries of decisions
// taken without their owner: an outage must not log one line per request.
const failureLogEvery = time.Second

// Limiter makes rate limits exact across the cluster without Redis. Each
// counter key has one owner among the live members, chosen by rendezvous
// hashing of (node ID, key): every node computes the same owner from the
// same member list, and a membership change moves only the keys of the
// node that came or went. The owner decides on its local ratelimit.Memory;
// the others forward the batch to it over the RPC port.
//
// Batches: when every key of a Decide maps to one owner (always the case
// for ratelimit.limit, and for multi-check batches on one identifier) the
// owner decides it atomically, exactly like a single node. When the keys
// span owners, all-or-nothing across them is a check-then-commit: a dry run
// on every owner first (nothing consumed), and only if all pass the real
// decision on each. A concurrent request between the two phases can make
// the commit fail on one owner after another already consumed; that errs
// on the strict side (a counter is charged for a denied request), never on
// the loose side.
//
// An owner that does not answer within cluster.forwardTimeoutMs (a busy
// owner must fit in it, see configs.Cluster.ForwardTimeoutMs) is handled
// by cluster.failMode: "open" decides on this node's own Memory (as the
// Redis limiter does when Redis is down), "closed" denies. Both are counted
// (FailOpens, FailCloses) and logged as a summary at most once a second.
//
// Accuracy while ownership moves: counters are not handed over. When an
// owner crashes, requests for its keys fail to forward until the failure is
// detected (about cluster.failureTimeoutMs); with failMode open each
// forwarding node then decides on its own Memory, and after detection the
// new owner starts from what it holds (including what it admitted during
// the gap). So for a moved key, in the window of the change, at most
// limit × the member count before the crash can be admitted (the old
// owner's count plus at most one limit per survivor); the next window is
// exact again. With failMode closed nothing is admitted for the key until
// the crash is detected. A node joining takes over its keys with empty
// counters, so a moved key can admit up to one extra limit in the window of
// the join.
type Limiter struct {
	c      *Cluster
	local  *ratelimit.Memory
	client *Client
	logger *slog.Logger

	timeout    time.Duration
	failClosed bool

	failOpens, failCloses atomic.Uint64
	// The latest failure and what the last summary reported, for the
	// next summary, at most one per logEvery.
	logEvery                 time.Duration
	lastFailure              atomic.Pointer[forwardFailure]
	lastLog                  atomic.Int64 // unix ns
	loggedOpens, loggedClose atomic.Uint64
}

type forwardFailure struct {
	owner, rpc string
	err        error
}

// NewLimiter is the rate limiter provider: the forwarding Limiter when this
// node is clustered without Redis, ratelimit.New otherwise (Redis is
// already exact across nodes; a lone node is exact on its own).
func NewLimiter(cfg *configs.Config, logger *slog.Logger, c *Cluster) (ratelimit.Limiter, func(), error) {
	if c == nil || (cfg.Redis != nil && cfg.Redis.URL != "") {
		return ratelimit.New(cfg, logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mem := ratelimit.NewMemory()
	go mem.RunJanitor(ctx, ratelimit.JanitorInterval)
	l := newLimiter(c, mem, logger)
	go l.logFailures(ctx)
	return l, cancel, nil
}

func newLimiter(c *Cluster, mem *ratelimit.Memory, logger *slog.Logger) *Limiter {
	timeout := time.Duration(c.cfg.ForwardTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = configs.DefaultForwardTimeoutMs * time.Millisecond
	}
	l := &Limiter{c: c, local: mem, logger: logger, timeout: timeout, logEvery: failureLogEvery,
		// The deadline is set per forward, retries included; the client's
		// own timeout is only a backstop.
		client:     c.client(timeout),
		failClosed: c.cfg.FailMode == configs.FailModeClosed}
	c.mux.HandleFunc("POST "+PathDecide, l.serveDecide)
	return l
}

// FailOpens counts decisions taken on this node's own counters because the
// owner did not answer (failMode open).
func (l *Limiter) FailOpens() uint64 { return l.failOpens.Load() }

// FailCloses counts decisions denied because the owner did not answer
// (failMode closed).
func (l *Limiter) FailCloses() uint64 { return l.failCloses.Load() }

// Decide implements handlers.Ratelimiter.
func (l *Limiter) Decide(ctx context.Context, now time.Time, checks []events.RatelimitCheck) ([]events.RatelimitDecision, error) {
	peers := l.c.Peers()
	if len(peers) <= 1 || len(checks) == 0 {
		return l.local.Decide(ctx, now, checks)
	}
	var order []int           // owners in order of first appearance
	groups := map[int][]int{} // owner index -> check indices
	for i, ch := range checks {
		o := Owner(peers, ch.Key)
		if _, ok := groups[o]; !ok {
			order = append(order, o)
		}
		groups[o] = append(groups[o], i)
	}
	if len(order) == 1 {
		return l.decideOn(ctx, peers[order[0]], now, checks, false)
	}
	out := make([]events.RatelimitDecision, len(checks))
	run := func(dry bool) (bool, error) {
		all := true
		for _, o := range order {
			idx := groups[o]
			sub := make([]events.RatelimitCheck, len(idx))
			for j, i := range idx {
				sub[j] = checks[i]
			}
			ds, err := l.decideOn(ctx, peers[o], now, sub, dry)
			if err != nil {
				return false, err
			}
			for j, i := range idx {
				out[i] = ds[j]
				all = all && ds[j].Passed
			}
		}
		return all, nil
	}
	if all, err := run(true); err != nil || !all {
		return out, err
	}
	_, err := run(false)
	return out, err
}

// decideOn has peer decide checks: locally when it is this node, over RPC
// otherwise, and by failMode when the RPC fails.
func (l *Limiter) decideOn(ctx context.Context, p Peer, now time.Time, checks []events.RatelimitCheck, dry bool) ([]events.RatelimitDecision, error) {
	if p.NodeID == l.c.cfg.NodeID {
		return l.decideLocal(ctx, now, checks, dry)
	}
	req := decideRequest{NowMs: now.UnixMilli(), DryRun: dry, Checks: make([]wireCheck, len(checks))}
	for i, ch := range checks {
		req.Checks[i] = wireCheck{Key: ch.Key, Limit: ch.Limit, DurationMs: ch.Duration.Milliseconds(), Cost: ch.Cost}
	}
	ds, err := l.forward(ctx, p, req)
	if err == nil {
		return ds, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	l.noteFailure(p, err)
	if l.failClosed {
		return denied(now, checks), nil
	}
	return l.decideLocal(ctx, now, checks, dry)
}

// forward has p decide req, waiting at most the forward timeout. A
// connection that could not be opened is retried after a pause: the
// request never reached the owner, so it cannot be counted twice, and a
// listener briefly unable to accept costs no decision. A request that was
// sent is never retried, even on a timeout: the owner may have counted it
// already, and it is slow, not absent, so the rest of the budget would not
// help either.
func (l *Limiter) forward(ctx context.Context, p Peer, req decideRequest) ([]events.RatelimitDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	pause := forwardBackoff
	for attempt := 0; ; attempt++ {
		var resp decideResponse
		err := l.client.Do(ctx, http.MethodPost, p.RPCAddr, PathDecide, req, &resp)
		if err == nil {
			if len(resp.Decisions) != len(req.Checks) {
				return nil, fmt.Errorf("owner %s answered %d decisions for %d checks", p.NodeID, len(resp.Decisions), len(req.Checks))
			}
			return resp.Decisions, nil
		}
		var op *net.OpError
		if attempt == forwardRetries || !errors.As(err, &op) || op.Op != "dial" {
			return nil, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		pause *= 2
	}
}

// denied is failMode closed's answer: what the limit answers when it is
// exhausted, for the window now falls in.
func denied(now time.Time, checks []events.RatelimitCheck) []events.RatelimitDecision {
	out := make([]events.RatelimitDecision, len(checks))
	for i, ch := range checks {
		d := max(ch.Duration.Milliseconds(), 1)
		_, start := events.WindowOf(now.UnixMilli(), d)
		out[i] = events.RatelimitDecision{Passed: false, Limit: ch.Limit, Remaining: 0, Reset: start + d}
	}
	return out
}

// dryRunSentinel always fails (limit 0, cost 1), so a batch carrying it is
// decided without consuming anything, while every other check still
// reports whether it would pass: that is Memory's all-or-nothing rule.
var dryRunSentinel = events.RatelimitCheck{Key: "\x00keyline:dry-run", Limit: 0, Duration: time.Second, Cost: 1}

func (l *Limiter) decideLocal(ctx context.Context, now time.Time, checks []events.RatelimitCheck, dry bool) ([]events.RatelimitDecision, error) {
	if !dry {
		return l.local.Decide(ctx, now, checks)
	}
	ds, err := l.local.Decide(ctx, now, append(append(make([]events.RatelimitCheck, 0, len(checks)+1), checks...), dryRunSentinel))
	if err != nil {
		return nil, err
	}
	return ds[:len(checks)], nil
}

// noteFailure counts a decision taken without its owner and logs a
// summary unless one was logged within the last logEvery.
func (l *Limiter) noteFailure(p Peer, err error) {
	// Stored before counting: a summary that sees the count finds it.
	l.lastFailure.Store(&forwardFailure{owner: p.NodeID, rpc: p.RPCAddr, err: err})
	if l.failClosed {
		l.failCloses.Add(1)
	} else {
		l.failOpens.Add(1)
	}
	l.summarize(time.Now())
}

// logFailures logs what the last summary left out (the tail of an
// outage) once a second.
func (l *Limiter) logFailures(ctx context.Context) {
	t := time.NewTicker(failureLogEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.summarize(now)
		}
	}
}

// summarize logs, at most once per logEvery, how many decisions
// were taken without their owner since the previous summary, and the
// latest failure. It logs nothing when there were none.
func (l *Limiter) summarize(now time.Time) {
	last := l.lastLog.Load()
	if now.UnixNano()-last < int64(l.logEvery) {
		return
	}
	opens, closes := l.failOpens.Load(), l.failCloses.Load()
	if opens == l.loggedOpens.Load() && closes == l.loggedClose.Load() {
		return
	}
	if !l.lastLog.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	newOpens, newCloses := opens-l.loggedOpens.Swap(opens), closes-l.loggedClose.Swap(closes)
	f := l.lastFailure.Load()
	mode := configs.FailModeOpen
	if l.failClosed {
		mode = configs.FailModeClosed
	}
	l.logger.Warn("rate-limit owner did not answer within cluster.forwardTimeoutMs",
		"failMode", mode, "decidedLocally", newOpens, "denied", newCloses,
		"lastOwner", f.owner, "lastRpc", f.rpc, "lastError", f.err,
		"failOpensTotal", opens, "failClosesTotal", closes)
}

type decideRequest struct {
	NowMs  int64       `json:"nowMs"`
	DryRun bool        `json:"dryRun,omitempty"`
	Checks []wireCheck `json:"checks"`
}

type wireCheck struct {
	Key        string `json:"key"`
	Limit      int64  `json:"limit"`
	DurationMs int64  `json:"durationMs"`
	Cost       int64  `json:"cost"`
}

type decideResponse struct {
	Decisions []events.RatelimitDecision `json:"decisions"`
}

// serveDecide decides a forwarded batch on this node's counters, whoever
// owns the keys in this node's view: re-forwarding could loop while two
// nodes disagree about membership.
func (l *Limiter) serveDecide(w http.ResponseWriter, r *http.Request) {
	var req decideRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.Checks) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {nowMs, checks:[...]}"})
		return
	}
	checks := make([]events.RatelimitCheck, len(req.Checks))
	for i, c := range req.Checks {
		checks[i] = events.RatelimitCheck{Key: c.Key, Limit: c.Limit, Duration: events.DurationFromMs(c.DurationMs), Cost: c.Cost}
	}
	ds, err := l.decideLocal(r.Context(), time.UnixMilli(req.NowMs), checks, req.DryRun)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	l.c.forwarded.Add(1)
	writeJSON(w, http.StatusOK, decideResponse{Decisions: ds})
}

// Owner returns the index in peers of the member that owns key: the one
// with the highest rendezvous score. peers must be the same list (any
// order) on every node for them to agree.
func Owner(peers []Peer, key string) int {
	best, bestScore := 0, uint64(0)
	for i, p := range peers {
		if s := score(p.NodeID, key); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

func score(node, key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(node))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	// FNV's low bits mix poorly for inputs that differ at the end; the
	// splitmix64 finaliser spreads them so the owners are balanced.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
