package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/ratelimit"
	"github.com/keyline/keyline/infra/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testSecret = "test-secret"

type node struct {
	c       *Cluster
	l       *Limiter
	cancel  context.CancelFunc
	done    chan error
	cfg     *configs.Config
	stopped bool
}

// testFailureTimeoutMs is the default: anything much shorter lets a loaded
// race-enabled run take a busy member for a dead one (the 600 ms these
// tests used did; see TestExactnessUnderCPULoad). Crash tests wait ~3 s.
const testFailureTimeoutMs = configs.DefaultFailureTimeoutMs

// nodeConfig returns the config of a loopback node.
func nodeConfig(t *testing.T, id string, peers []string) *configs.Config {
	return &configs.Config{HTTPPort: 1, Region: "test", Cluster: &configs.Cluster{
		NodeID: id, AdvertiseAddr: "127.0.0.1", Secret: testSecret, FailureTimeoutMs: testFailureTimeoutMs,
		RPCPort: strconv.Itoa(testenv.FreePort(t)), GossipPort: strconv.Itoa(testenv.FreePort(t)),
		Discovery: configs.Discovery{Static: &configs.StaticDiscovery{Addrs: peers}},
	}}
}

func startNode(t *testing.T, cfg *configs.Config) *node {
	t.Helper()
	return startNodeLogging(t, cfg, quiet)
}

// startNodeLogging is startNode with the node's log sent to logger.
func startNodeLogging(t *testing.T, cfg *configs.Config, logger *slog.Logger) *node {
	t.Helper()
	c, cleanup, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{c: c, l: newLimiter(c, ratelimit.NewMemory(), quiet), cancel: cancel, done: make(chan error, 1), cfg: cfg}
	go func() { n.done <- c.Run(ctx) }()
	t.Cleanup(func() { n.crash(); cleanup() })
	return n
}

// crash stops the node without leaving, as kill -9 would.
func (n *node) crash() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	<-n.done
	n.c.close()
}

func gossipAddrs(cfgs []*configs.Config) []string {
	var out []string
	for _, c := range cfgs {
		out = append(out, "127.0.0.1:"+c.Cluster.GossipPort)
	}
	return out
}

// startCluster starts n nodes, each listing every gossip address (its own
// included, which discovery skips), in reverse order.
func startCluster(t *testing.T, count int) []*node {
	return startClusterWith(t, count, func(*configs.Cluster) {})
}

// startClusterWith is startCluster with each node's cluster config passed
// through adjust first.
func startClusterWith(t *testing.T, count int, adjust func(*configs.Cluster)) []*node {
	t.Helper()
	cfgs := make([]*configs.Config, count)
	for i := range cfgs {
		cfgs[i] = nodeConfig(t, fmt.Sprintf("n%d", i+1), nil)
		adjust(cfgs[i].Cluster)
	}
	for _, c := range cfgs {
		c.Cluster.Discovery.Static.Addrs = gossipAddrs(cfgs)
	}
	nodes := make([]*node, count)
	for i := count - 1; i >= 0; i-- {
		nodes[i] = startNode(t, cfgs[i])
	}
	waitMembers(t, nodes, count)
	return nodes
}

// logMembership logs the membership changes n observed and its decisions
// taken without their owner, to tell the two causes of an inexact limit
// apart.
func logMembership(t *testing.T, n *node) {
	t.Helper()
	var changes []string
	for _, ev := range n.c.Recent() {
		if ev.Observer == n.c.NodeID() && ev.Name != EventNodeHeartbeat {
			changes = append(changes, ev.At.Format("15:04:05.000")+" "+ev.Name+" "+ev.NodeID)
		}
	}
	t.Logf("%s: %d fail-opens, %d fail-closes; membership changes %v", n.c.NodeID(), n.l.FailOpens(), n.l.FailCloses(), changes)
}

func waitMembers(t *testing.T, nodes []*node, want int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, n := range nodes {
			if n.stopped {
				continue
			}
			if got := len(n.c.Peers()); got != want {
				return false, fmt.Sprintf("%s sees %d live members, want %d", n.c.NodeID(), got, want)
			}
		}
		return true, ""
	})
}

func TestOwnerIsStableAndBalanced(t *testing.T) {
	peers := []Peer{{NodeID: "a"}, {NodeID: "b"}, {NodeID: "c"}}
	reversed := []Peer{peers[2], peers[1], peers[0]}
	counts := map[string]int{}
	moved := 0
	for i := range 30000 {
		key := "rlns_x:user_" + strconv.Itoa(i)
		o := peers[Owner(peers, key)].NodeID
		if reversed[Owner(reversed, key)].NodeID != o {
			t.Fatalf("owner of %s depends on the order of the member list", key)
		}
		counts[o]++
		// Removing c moves only c's keys.
		if o2 := peers[:2][Owner(peers[:2], key)].NodeID; o2 != o {
			if o != "c" {
				t.Fatalf("removing c moved %s from %s to %s", key, o, o2)
			}
			moved++
		}
	}
	for id, n := range counts {
		if n < 9000 || n > 11000 {
			t.Errorf("%s owns %d of 30000 keys", id, n)
		}
	}
	if moved != counts["c"] {
		t.Errorf("moved %d keys, c owned %d", moved, counts["c"])
	}
}

func TestSecretIsRequired(t *testing.T) {
	cfg := nodeConfig(t, "n1", []string{"127.0.0.1:1"})
	cfg.Cluster.Secret = ""
	if _, _, err := New(cfg, quiet); err == nil {
		t.Fatal("a cluster node started without cluster.secret")
	}
	n := startNode(t, nodeConfig(t, "n1", []string{"127.0.0.1:1"}))
	addr := n.c.self.RPCAddr
	for _, secret := range []string{"", "wrong"} {
		err := NewClient(secret, time.Second).Do(context.Background(), http.MethodGet, addr, PathMembers, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("secret %q: %v", secret, err)
		}
	}
	r, err := NewClient(testSecret, time.Second).Members(context.Background(), addr)
	if err != nil || len(r.Members) != 1 || !r.Members[0].Self {
		t.Fatalf("with the secret: %+v %v", r, err)
	}
}

func TestDuplicateNodeIDIsRefused(t *testing.T) {
	nodes := startCluster(t, 2)
	dup := nodeConfig(t, "n1", []string{"127.0.0.1:" + nodes[1].cfg.Cluster.GossipPort})
	c, cleanup, err := New(dup, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("a second n1 ran: %v", err)
	}
	waitMembers(t, nodes, 2)
}

// Three nodes, one key, 60 concurrent clients spread over them: exactly
// the limit passes, because every decision lands on the key's owner.
func TestForwardedDecisionsAreExact(t *testing.T) {
	// This is about who decides, not how fast: 60 callers queue up, and on
	// a loaded race-enabled run a forward can outlast the default timeout
	// and fail open (counted, asserted zero below), or a member be
	// mistaken for a dead one. Both are ruled out here;
	// TestExactnessUnderCPULoad runs the default timings under load.
	forwardedDecisionsAreExact(t, 60, func(c *configs.Cluster) {
		c.FailureTimeoutMs, c.ForwardTimeoutMs = 20_000, 30_000
	})
}

// forwardedDecisionsAreExact has clients concurrent callers, each waiting
// for its answer before the next request, make 900 decisions on one key of
// limit 300 through three nodes configured by adjust, and asserts that
// exactly 300 passed and that no decision was taken without the owner.
func forwardedDecisionsAreExact(t *testing.T, clients int, adjust func(*configs.Cluster)) {
	nodes := startClusterWith(t, 3, adjust)
	const limit, total = 300, 900
	var admitted atomic.Int64
	var wg sync.WaitGroup
	now := time.Now()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += clients {
				ds, err := nodes[i%3].l.Decide(context.Background(), now,
					[]events.RatelimitCheck{{Key: "ns:hot", Limit: limit, Duration: time.Minute, Cost: 1}})
				if err != nil {
					t.Error(err)
					return
				}
				if ds[0].Passed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d decisions by %d clients in %v", total, clients, time.Since(start).Round(time.Millisecond))
	for _, n := range nodes {
		if n.l.FailOpens() != 0 || n.l.FailCloses() != 0 {
			t.Errorf("%s decided %d times without the owner", n.c.NodeID(), n.l.FailOpens()+n.l.FailCloses())
		}
	}
	if admitted.Load() != limit {
		for _, n := range nodes {
			logMembership(t, n)
		}
		t.Fatalf("admitted %d, want %d", admitted.Load(), limit)
	}
}

// A batch whose keys have different owners is all or nothing: an exhausted
// key on one owner consumes nothing on the other.
func TestBatchAcrossOwnersIsAllOrNothing(t *testing.T) {
	nodes := startCluster(t, 3)
	peers := nodes[0].c.Peers()
	var a, b string
	for i := 0; b == ""; i++ {
		k := "ns:k" + strconv.Itoa(i)
		switch {
		case a == "":
			a = k
		case Owner(peers, k) != Owner(peers, a):
			b = k
		}
	}
	now := time.Now()
	decide := func(checks ...events.RatelimitCheck) []events.RatelimitDecision {
		ds, err := nodes[0].l.Decide(context.Background(), now, checks)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ca := events.RatelimitCheck{Key: a, Limit: 10, Duration: time.Minute, Cost: 1}
	cb := events.RatelimitCheck{Key: b, Limit: 1, Duration: time.Minute, Cost: 1}
	if ds := decide(ca, cb); !ds[0].Passed || !ds[1].Passed {
		t.Fatalf("first batch: %+v", ds)
	}
	for range 5 {
		if ds := decide(ca, cb); ds[1].Passed {
			t.Fatalf("b passed over its limit: %+v", ds)
		}
	}
	// a was charged once only: 9 left.
	if ds := decide(events.RatelimitCheck{Key: a, Limit: 10, Duration: time.Minute, Cost: 0}); ds[0].Remaining != 9 {
		t.Fatalf("a remaining %d, want 9 (denied batches consumed a)", ds[0].Remaining)
	}
}

// Ownership change: the owner of a key crashes after admitting the full
// limit. Until the others detect it they decide locally; afterwards the
// new owner decides alone. Over the window, at most limit × 3 (members
// before the crash) pass, and once the view settles the new owner admits
// at most one more limit in total.
func TestOwnerCrashAccuracy(t *testing.T) {
	ownerCrashAccuracy(t)
}

func ownerCrashAccuracy(t *testing.T) {
	nodes := startCluster(t, 3)
	const limit = 50
	key := "ns:moving"
	owner := nodes[Owner(nodes[0].c.Peers(), key)]
	var survivors []*node
	for _, n := range nodes {
		if n != owner {
			survivors = append(survivors, n)
		}
	}
	check := []events.RatelimitCheck{{Key: key, Limit: limit, Duration: time.Minute, Cost: 1}}
	admitted := 0
	decide := func(n *node) bool {
		ds, err := n.l.Decide(context.Background(), time.Now(), check)
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Passed {
			admitted++
		}
		return ds[0].Passed
	}
	for i := range limit + 10 {
		decide(survivors[i%2])
	}
	if admitted != limit {
		for _, n := range survivors {
			logMembership(t, n)
		}
		t.Fatalf("before the crash: admitted %d, want %d", admitted, limit)
	}
	crashed := time.Now()
	owner.crash()
	// Keep asking through both survivors while the failure is detected.
	for i := 0; ; i++ {
		decide(survivors[i%2])
		if len(survivors[0].c.Peers()) == 2 && len(survivors[1].c.Peers()) == 2 {
			break
		}
		if time.Since(crashed) > 10*time.Second {
			t.Fatal("the crash was not detected within 10 s")
		}
	}
	detected := time.Since(crashed)
	during := admitted - limit
	for i := range 3 * limit {
		decide(survivors[i%2])
	}
	t.Logf("failure detected after %v; admitted %d during detection, %d in total (limit %d)",
		detected.Round(time.Millisecond), during, admitted, limit)
	if admitted > 3*limit {
		t.Fatalf("admitted %d over the ownership change, bound is %d", admitted, 3*limit)
	}
	// After the change the new owner's counter is authoritative: no
	// further admission once it reached the limit.
	before := admitted
	for i := range 20 {
		decide(survivors[i%2])
	}
	if admitted != before {
		t.Fatalf("settled cluster admitted %d more", admitted-before)
	}
}
