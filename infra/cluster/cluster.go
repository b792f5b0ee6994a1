package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/keyline/keyline/configs"
)

// Cluster is this node's handle on the cluster. A nil *Cluster stands for
// "not clustered": Peers, MemberCount and OnChange work on it, so callers
// need no special case.
type Cluster struct {
	cfg  configs.Cluster
	self meta
	// selfGossip is the advertised gossip address; known before memberlist
	// starts, which matters because peers may call in during Create.
	selfGossip string
	logger     *slog.Logger

	ml         *memberlist.Memberlist
	broadcasts *memberlist.TransmitLimitedQueue
	discovery  discovery
	sink       sink

	rpc       *http.Server
	rpcLn     net.Listener
	mux       *http.ServeMux
	clientTLS *tls.Config // calling peers over TLS (cluster.tls); nil: plain HTTP

	nodeEvents chan nodeEvent
	fatal      chan error

	// nodes holds copies of the members memberlist reported alive, taken in
	// its callbacks (see delegate.send); never read memberlist's own *Node.
	nodesMu sync.Mutex
	nodes   map[string]memberlist.Node

	// alive is the sorted set of live members, rebuilt by the event loop on
	// every change; the rate limiter reads it per decision without locking.
	alive atomic.Pointer[[]Peer]

	mu        sync.Mutex
	table     map[string]*Peer // every member ever seen, failed ones too
	onChange  []func([]Peer)
	onMessage []func([]byte)
	recent    []Event // ring of the latest records, newest last
	seen      map[string]struct{}
	// leaving holds members that announced their departure over RPC:
	// memberlist's leave notification does not say whether a node left or
	// died, so the announcement is what tells the two apart.
	leaving map[string]time.Time

	seq        atomic.Uint64
	forwarded  atomic.Uint64
	leaveOnce  sync.Once
	closeOnce  sync.Once
	startedRPC atomic.Bool
}

// Timings derived from cluster.failureTimeoutMs (F). memberlist declares a
// member dead after one failed probe of it (a direct ping, then indirect
// pings through other members, one probe interval in all) followed by
// suspicionMult × interval under suspicion (clusters under ten members;
// log10 n times that above). The suspicion phase is what protects a busy
// member: it refutes the suspicion as soon as it runs again, so a member
// starved of CPU is declared dead only when it stays silent for about
// interval + suspicion. memberlist's LAN defaults (interval 1 s, timeout
// 500 ms, multiplier 4) put most of the detection time into suspicion;
// keyline keeps those proportions scaled to F: interval F/6, probe timeout
// F/12, suspicion 4 intervals (2F/3). A crash is detected after 5 to 7
// intervals (the wait until the next probe of the dead member varies),
// about F; a member silent for less than about 5/6 F minus one gossip
// interval is not declared dead (2.3 s at the default 3000 ms). The
// previous F/4 interval with multiplier 2 left only 3/4 F, and 450 ms at
// the 600 ms the tests used, which a loaded race-enabled run exceeded.
//
// Awareness stays at memberlist's default (AwarenessMaxMultiplier 8): a
// member whose own indirect probes go unanswered takes itself for the slow
// one and stretches its probe interval and timeout instead of accusing the
// others.
func timings(failureTimeout time.Duration) (probe, probeTimeout time.Duration, suspicionMult int) {
	probe = max(failureTimeout/6, 20*time.Millisecond)
	return probe, max(probe/2, 10*time.Millisecond), 4
}

// wrapTransport lets tests stand between memberlist and the network, to
// hold a member's packets as if its process were starved of CPU. It is nil
// outside tests.
var wrapTransport func(nodeID string, t memberlist.Transport) memberlist.Transport

// HeartbeatEvery is how often a node gossips its cluster.node_heartbeat.
func heartbeatEvery(failureTimeout time.Duration) time.Duration {
	return min(max(failureTimeout, time.Second), 10*time.Second)
}

// New binds the gossip and RPC ports and starts memberlist, alone: joining
// the others happens in Run, so a node whose peers are not up yet still
// starts. It returns nil, a no-op cleanup and no error when cluster is not
// configured. It refuses to start without cluster.secret, because the RPC
// port would take rate-limit decisions from anyone.
func New(cfg *configs.Config, logger *slog.Logger) (*Cluster, func(), error) {
	if cfg.Cluster == nil {
		return nil, func() {}, nil
	}
	cl := *cfg.Cluster
	if cl.Secret == "" {
		return nil, nil, errors.New("cluster.secret is not set: refusing to start the cluster RPC port without a shared secret (set cluster.secret, e.g. to ${KEYLINE_CLUSTER_SECRET})")
	}
	advertise := cl.AdvertiseAddr
	if advertise == "" {
		advertise = "127.0.0.1"
	}
	bind := bindAddr(advertise)
	gossipPort, _ := strconv.Atoi(cl.GossipPort)
	rpcPort, _ := strconv.Atoi(cl.RPCPort)
	failure := time.Duration(cl.FailureTimeoutMs) * time.Millisecond
	if failure <= 0 {
		failure = configs.DefaultFailureTimeoutMs * time.Millisecond
	}
	logger = logger.With("component", "cluster", "nodeId", cl.NodeID)

	c := &Cluster{
		cfg:    cl,
		logger: logger,
		self: meta{V: metaVersion, RPCAddr: net.JoinHostPort(advertise, cl.RPCPort),
			HTTPPort: cfg.HTTPPort, Region: cfg.Region},
		selfGossip: net.JoinHostPort(advertise, cl.GossipPort),
		nodeEvents: make(chan nodeEvent, 1024),
		nodes:      map[string]memberlist.Node{},
		fatal:      make(chan error, 1),
		table:      map[string]*Peer{},
		seen:       map[string]struct{}{},
		leaving:    map[string]time.Time{},
		mux:        http.NewServeMux(),
	}
	c.alive.Store(&[]Peer{})

	ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(rpcPort)))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster rpc: listening on %s:%d: %w", bind, rpcPort, err)
	}
	if cl.TLS != nil {
		serverTLS, clientTLS, err := rpcTLS(cl.TLS)
		if err != nil {
			_ = ln.Close()
			return nil, nil, err
		}
		ln, c.clientTLS = tls.NewListener(ln, serverTLS), clientTLS
	}
	c.rpcLn = ln
	c.routes()

	mc := memberlist.DefaultLANConfig()
	mc.Name = cl.NodeID
	mc.BindAddr = bind
	mc.BindPort = gossipPort
	mc.AdvertiseAddr = advertise
	mc.AdvertisePort = gossipPort
	mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = timings(failure)
	mc.GossipInterval = min(mc.GossipInterval, mc.ProbeInterval)
	// A restarted node may come back on another address once its old
	// self has been dead for a failure timeout.
	mc.DeadNodeReclaimTime = failure
	mc.Logger = newMemberlistLogger(logger)
	// Gossip is sealed with memberlist's keyring (AES-GCM) under a key
	// derived from cluster.secret, every message and state exchange checked
	// both ways: without the secret, a host that reaches the gossip port can
	// neither read the membership nor join, suspect or kill a member (which
	// would move rate-limit ownership).
	mc.SecretKey = gossipKey(cl.Secret)
	if wrapTransport != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{bind}, BindPort: gossipPort, Logger: mc.Logger})
		if err != nil {
			_ = ln.Close()
			return nil, nil, fmt.Errorf("cluster: starting gossip on %s:%d: %w", bind, gossipPort, err)
		}
		mc.Transport = wrapTransport(cl.NodeID, nt)
	}
	// Peers may gossip to us as soon as Create binds, so the queue exists
	// first and counts members without touching c.ml.
	c.broadcasts = &memberlist.TransmitLimitedQueue{NumNodes: c.MemberCount, RetransmitMult: mc.RetransmitMult}
	d := &delegate{c: c}
	mc.Delegate, mc.Events, mc.Merge, mc.Conflict = d, d, d, d
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("cluster: starting gossip on %s:%d: %w", bind, gossipPort, err)
	}
	c.ml = ml

	if r := cl.Discovery.Redis; r != nil {
		c.discovery, err = newRedisDiscovery(r.URL, r.KeyPrefix, cl.NodeID, c.gossipAddr(), heartbeatEvery(failure), logger)
	} else {
		c.discovery = newStaticDiscovery(cl.Discovery.Static.Addrs, c.gossipAddr())
	}
	if err != nil {
		c.close()
		return nil, nil, err
	}
	c.sink = newSink(cfg, c, logger)
	c.refresh()
	return c, c.close, nil
}

// gossipKey derives the gossip encryption key (32 bytes: AES-256) from the
// cluster secret. The label keeps it apart from any other use of the secret:
// the secret itself travels as the RPC port's bearer token.
func gossipKey(secret string) []byte {
	sum := sha256.Sum256([]byte("keyline cluster gossip key v1\x00" + secret))
	return sum[:]
}

// bindAddr listens on the advertised address when it is loopback (a local
// test or a single-machine cluster must not be reachable from outside) and
// on every interface otherwise: behind NAT the advertised address may not
// be local.
func bindAddr(advertise string) string {
	if ip := net.ParseIP(advertise); ip != nil && ip.IsLoopback() {
		return advertise
	}
	if advertise == "localhost" {
		return "127.0.0.1"
	}
	return "0.0.0.0"
}

func (c *Cluster) gossipAddr() string { return c.selfGossip }

// NodeID is this node's name in the cluster.
func (c *Cluster) NodeID() string { return c.cfg.NodeID }

// Peers returns the live members (alive or suspect), this node included,
// sorted by node ID. Without a cluster it returns nil.
func (c *Cluster) Peers() []Peer {
	if c == nil {
		return nil
	}
	return *c.alive.Load()
}

// MemberCount is the number of live members, at least 1 (this node).
func (c *Cluster) MemberCount() int {
	if c == nil {
		return 1
	}
	return max(1, len(*c.alive.Load()))
}

// OnChange registers fn to be called with the live members after every
// membership change. fn runs on the cluster's event goroutine: it must not
// block.
func (c *Cluster) OnChange(fn func([]Peer)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.onChange = append(c.onChange, fn)
	c.mu.Unlock()
}

// MaxBroadcast is the largest payload Broadcast accepts: a gossip packet is
// one UDP datagram.
const MaxBroadcast = 1024

// Broadcast gossips msg to every member (eventually, at least once each;
// duplicates are possible, so handlers must be idempotent). It is meant for
// small invalidation notices, e.g. "key k changed", not for data.
func (c *Cluster) Broadcast(msg []byte) error {
	if c == nil {
		return nil
	}
	if len(msg) > MaxBroadcast {
		return fmt.Errorf("cluster broadcast of %d bytes exceeds %d", len(msg), MaxBroadcast)
	}
	c.broadcasts.QueueBroadcast(broadcast(append([]byte{msgUser}, msg...)))
	return nil
}

// OnMessage registers fn for every Broadcast payload received from another
// member. fn runs on memberlist's packet goroutine: it must not block.
func (c *Cluster) OnMessage(fn func([]byte)) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.onMessage = append(c.onMessage, fn)
	c.mu.Unlock()
}

// Members is the full table as this node sees it: live members and those
// that failed or left, with their last heartbeat. A suspected member is
// still alive here: memberlist reports no event for suspicion, and its
// member pointers cannot be read safely (see delegate.send).
func (c *Cluster) Members() []Peer {
	c.mu.Lock()
	out := make([]Peer, 0, len(c.table))
	for _, p := range c.table {
		cp := *p
		cp.Self = cp.NodeID == c.cfg.NodeID
		out = append(out, cp)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Peer) int { return cmpString(a.NodeID, b.NodeID) })
	return out
}

// Recent returns the latest membership records this node produced or
// received, oldest first.
func (c *Cluster) Recent() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recent)
}

// Run joins the cluster through discovery (retrying until a peer answers),
// serves the RPC port and keeps the node's heartbeat and registration
// going, until ctx ends. It returns an error only when this node must not
// run, e.g. its node ID is already taken by a live member.
func (c *Cluster) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(c.eventLoop)
	run(c.discovery.run(c))
	run(c.heartbeatLoop)
	run(c.sink.run)
	c.startedRPC.Store(true)
	rpcErr := make(chan error, 1)
	go func() { rpcErr <- c.rpc.Serve(c.rpcLn) }()
	c.logger.Info("cluster node started", "gossip", c.gossipAddr(), "rpc", c.self.RPCAddr)
	select {
	case <-ctx.Done():
		return nil
	case err := <-c.fatal:
		return err
	case err := <-rpcErr:
		if errors.Is(err, http.ErrServerClosed) {
			<-ctx.Done()
			return nil
		}
		return fmt.Errorf("cluster rpc: %w", err)
	}
}

// Leave tells the others this node is going (they stop forwarding to it at
// once instead of after a failure timeout) and deregisters it. The RPC
// port keeps answering, so decisions already forwarded here complete.
func (c *Cluster) Leave(timeout time.Duration) {
	if c == nil {
		return
	}
	c.leaveOnce.Do(func() {
		c.announceLeaving(timeout / 2)
		if err := c.ml.Leave(timeout); err != nil {
			c.logger.Warn("leaving the cluster", "error", err)
		}
		c.discovery.deregister()
		c.logger.Info("left the cluster")
	})
}

// announceLeaving tells every live peer, and waits for their answer, that
// this node is leaving on purpose, so they record cluster.node_left rather
// than cluster.node_failed.
func (c *Cluster) announceLeaving(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := c.client(timeout)
	var wg sync.WaitGroup
	for _, p := range c.Peers() {
		if p.NodeID == c.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client.Do(ctx, http.MethodPost, p.RPCAddr, PathLeaving, leavingNotice{NodeID: c.cfg.NodeID}, nil); err != nil {
				c.logger.Debug("leave announcement not delivered", "member", p.NodeID, "error", err)
			}
		}()
	}
	wg.Wait()
}

// Shutdown drains the RPC port (up to timeout) and stops gossip. Call it
// after Leave and after the public port has drained.
func (c *Cluster) Shutdown(timeout time.Duration) {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if c.startedRPC.Load() {
		if err := c.rpc.Shutdown(ctx); err != nil {
			c.logger.Warn("draining the cluster rpc port", "error", err)
		}
	}
	c.close()
}

func (c *Cluster) close() {
	c.closeOnce.Do(func() {
		_ = c.rpcLn.Close()
		if c.ml != nil {
			_ = c.ml.Shutdown()
		}
		if c.discovery != nil {
			c.discovery.close()
		}
		if c.sink != nil {
			c.sink.close()
		}
	})
}

// heartbeatLoop gossips this node's load so that every member's table
// shows when it was last heard from, and (with Redis) records it on the
// stream.
func (c *Cluster) heartbeatLoop(ctx context.Context) {
	every := heartbeatEvery(time.Duration(c.cfg.FailureTimeoutMs) * time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c.emit(Event{Name: EventNodeHeartbeat, NodeID: c.cfg.NodeID, Addr: c.gossipAddr(), Region: c.self.Region,
			Load: &Load{Goroutines: runtime.NumGoroutine(), Members: c.MemberCount(), ForwardedDecisions: c.forwarded.Load()}},
			true)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// emit records ev locally, and sends it on: to the Redis stream when there
// is one, by gossip otherwise. Heartbeats are always gossiped too, because
// they feed every member's table.
func (c *Cluster) emit(ev Event, gossip bool) {
	ev.ID = c.cfg.NodeID + "-" + strconv.FormatUint(c.seq.Add(1), 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ev.Version = EventVersion
	ev.Observer = c.cfg.NodeID
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	c.record(ev)
	published := c.sink.publish(ev)
	if gossip || !published {
		b, err := json.Marshal(ev)
		if err == nil {
			c.broadcasts.QueueBroadcast(broadcast(append([]byte{msgEvent}, b...)))
		}
	}
}

const recentSize = 512

// record adds ev to the ring and applies a heartbeat to the table. It
// returns false for a record already seen (gossip repeats itself).
func (c *Cluster) record(ev Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[ev.ID]; dup {
		return false
	}
	if len(c.seen) > 8*recentSize {
		c.seen = map[string]struct{}{}
		for _, r := range c.recent {
			c.seen[r.ID] = struct{}{}
		}
	}
	c.seen[ev.ID] = struct{}{}
	c.recent = append(c.recent, ev)
	if len(c.recent) > recentSize {
		c.recent = slices.Clone(c.recent[len(c.recent)-recentSize:])
	}
	if ev.Name == EventNodeHeartbeat {
		if p, ok := c.table[ev.NodeID]; ok && ev.At.After(p.LastHeartbeat) {
			p.LastHeartbeat, p.Load = ev.At, ev.Load
		}
	}
	return true
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
