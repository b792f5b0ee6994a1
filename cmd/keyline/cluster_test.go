package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/testenv"
)

const clusterSecret = "test-cluster-secret"

// clusterNode is one keyline process of a test cluster.
type clusterNode struct {
	id       string
	rootKey  string
	config   string
	httpPort int
	rpcAddr  string
	proc     *proc
	server   *testServer
}

// clusterSpec says how to build a test cluster's configs.
type clusterSpec struct {
	redisURL, redisPrefix string         // Redis discovery when set, static otherwise
	database              func() string  // shared database URL; nil: one SQLite file per node
	extra                 map[string]any // merged into every config
	// failureTimeoutMs is cluster.failureTimeoutMs; 0: 1000, for tests of
	// failure detection.
	failureTimeoutMs int
}

// newClusterConfigs writes the configs of n nodes on loopback, with node
// IDs unique to the test (the keyline.cluster stream is shared) and a 1 s
// failure timeout unless spec sets one.
func newClusterConfigs(t *testing.T, n int, spec clusterSpec) []*clusterNode {
	t.Helper()
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	type ports struct{ http, rpc, gossip int }
	ps := make([]ports, n)
	var gossip []string
	for i := range ps {
		ps[i] = ports{testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)}
		gossip = append(gossip, fmt.Sprintf("127.0.0.1:%d", ps[i].gossip))
	}
	discovery := map[string]any{"static": map[string]any{"addrs": gossip}}
	if spec.redisURL != "" {
		discovery = map[string]any{"redis": map[string]any{"url": spec.redisURL, "keyPrefix": spec.redisPrefix}}
	}
	failureTimeout := 1000
	if spec.failureTimeoutMs != 0 {
		failureTimeout = spec.failureTimeoutMs
	}
	shared := ""
	if spec.database != nil {
		shared = spec.database()
	}
	nodes := make([]*clusterNode, n)
	for i, p := range ps {
		id := fmt.Sprintf("t%s-n%d", tag, i+1)
		db := shared
		if db == "" {
			db = "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
		}
		cfg := map[string]any{
			"httpPort":  p.http,
			"region":    "test-" + strconv.Itoa(i+1),
			"database":  map[string]any{"primary": db},
			"bootstrap": map[string]any{"rootKey": "kl_root_cluster_test_" + tag},
			"cluster": map[string]any{
				"nodeId": id, "advertiseAddr": "127.0.0.1", "secret": clusterSecret,
				"rpcPort": strconv.Itoa(p.rpc), "gossipPort": strconv.Itoa(p.gossip),
				"failureTimeoutMs": failureTimeout, "discovery": discovery,
			},
		}
		for k, v := range spec.extra {
			cfg[k] = v
		}
		nodes[i] = &clusterNode{id: id, rootKey: "kl_root_cluster_test_" + tag, config: writeConfig(t, cfg), httpPort: p.http,
			rpcAddr: fmt.Sprintf("127.0.0.1:%d", p.rpc)}
	}
	return nodes
}

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	n.proc, n.server = startFromConfig(t, n.config, n.httpPort)
	n.server.RootKey = n.rootKey
}

// membersCLI runs `keyline cluster members --config` and returns each
// member's state by node ID.
func membersCLI(t *testing.T, config string) (map[string]string, string) {
	t.Helper()
	out, errs, code := runProc(t, "cluster", "members", "--config", config)
	if code != 0 {
		return nil, fmt.Sprintf("exit %d: %s", code, errs)
	}
	states := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 4 {
			if f[1] == "(self)" {
				f = slices.Delete(f, 1, 2)
			}
			states[f[0]] = f[3]
		}
	}
	return states, out
}

// waitAllAlive waits until `keyline cluster members` on every running node
// lists every node as alive.
func waitAllAlive(t *testing.T, nodes []*clusterNode, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() (bool, string) {
		for _, n := range nodes {
			states, out := membersCLI(t, n.config)
			alive := 0
			for _, m := range nodes {
				if states[m.id] == cluster.StateAlive {
					alive++
				}
			}
			if alive != len(nodes) {
				return false, fmt.Sprintf("%s sees %d alive:\n%s", n.id, alive, out)
			}
		}
		return true, ""
	})
}

func rpcClient() *cluster.Client { return cluster.NewClient(clusterSecret, 2*time.Second) }

// Three processes started in any order form a
// cluster (static peers, or Redis registration); `keyline cluster members`
// shows three alive on every node. kill -9 of one: the others mark it
// failed within 5 s; restarted, it rejoins; each change is a record on the
// keyline.cluster stream (Redis) or gossiped to the peers (static). The
// RPC port refuses a request without the cluster secret.
func TestClusterMembership(t *testing.T) {
	for _, mode := range []string{"static", "redis"} {
		t.Run(mode, func(t *testing.T) {
			spec := clusterSpec{}
			var rdb *redis.Client
			if mode == "redis" {
				spec.redisURL = testenv.RedisURL(t)
				spec.redisPrefix = testenv.RedisPrefixAt(t, spec.redisURL)
				opts, _ := redis.ParseURL(spec.redisURL)
				rdb = redis.NewClient(opts)
				t.Cleanup(func() { _ = rdb.Close() })
			}
			nodes := newClusterConfigs(t, 3, spec)
			started := time.Now()
			for _, i := range []int{2, 0, 1} { // any order
				nodes[i].start(t)
			}
			waitAllAlive(t, nodes, 20*time.Second)
			t.Logf("%s: 3 nodes alive on every node %v after the first start", mode, time.Since(started).Round(time.Millisecond))

			if mode == "static" {
				checkRPCSecret(t, nodes[0].rpcAddr)
			}

			victim, watchers := nodes[1], []*clusterNode{nodes[0], nodes[2]}
			if err := victim.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-victim.proc.done
			killed := time.Now()
			testenv.Eventually(t, 5*time.Second, func() (bool, string) {
				for _, w := range watchers {
					r, err := rpcClient().Members(context.Background(), w.rpcAddr)
					if err != nil {
						return false, err.Error()
					}
					if st := stateOf(r.Members, victim.id); st != cluster.StateFailed {
						return false, fmt.Sprintf("%s sees %s as %q", w.id, victim.id, st)
					}
				}
				return true, ""
			})
			t.Logf("%s: kill -9 detected as failed by both peers after %v", mode, time.Since(killed).Round(time.Millisecond))

			restarted := time.Now()
			victim.start(t)
			waitAllAlive(t, nodes, 20*time.Second)
			t.Logf("%s: restarted node alive everywhere after %v", mode, time.Since(restarted).Round(time.Millisecond))

			// The records of both changes, as every peer reported them.
			want := []string{cluster.EventNodeFailed, cluster.EventNodeJoined}
			testenv.Eventually(t, 10*time.Second, func() (bool, string) {
				var got []cluster.Event
				if mode == "redis" {
					got = streamRecords(t, rdb, killed.Add(-time.Second))
				} else {
					// Gossiped: nodes[0] must hold nodes[2]'s observations.
					r, err := rpcClient().Events(context.Background(), nodes[0].rpcAddr)
					if err != nil {
						return false, err.Error()
					}
					got = r.Events
				}
				for _, w := range watchers {
					for _, name := range want {
						if !hasRecord(got, name, victim.id, w.id) {
							return false, fmt.Sprintf("no %s of %s observed by %s among %d records", name, victim.id, w.id, len(got))
						}
					}
				}
				return true, ""
			})
		})
	}
}

func stateOf(ms []cluster.Peer, id string) string {
	for _, m := range ms {
		if m.NodeID == id {
			return m.State
		}
	}
	return ""
}

func hasRecord(evs []cluster.Event, name, node, observer string) bool {
	for _, e := range evs {
		if e.Name == name && e.NodeID == node && e.Observer == observer && e.Version == cluster.EventVersion {
			return true
		}
	}
	return false
}

// streamRecords reads keyline.cluster from since on (watermill stores the
// JSON record in the "payload" field).
func streamRecords(t *testing.T, rdb *redis.Client, since time.Time) []cluster.Event {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), cluster.StreamTopic, strconv.FormatInt(since.UnixMilli(), 10), "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", cluster.StreamTopic, err)
	}
	var out []cluster.Event
	for _, m := range msgs {
		raw, _ := m.Values["payload"].(string)
		var ev cluster.Event
		if json.Unmarshal([]byte(raw), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

// checkRPCSecret: without the secret (or with a wrong one) 401, with it 200.
func checkRPCSecret(t *testing.T, addr string) {
	t.Helper()
	for _, secret := range []string{"", "not-the-secret"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+cluster.PathMembers, nil)
		if secret != "" {
			req.Header.Set(cluster.SecretHeader, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("rpc with secret %q answered %d, want 401", secret, resp.StatusCode)
		}
	}
	body := strings.NewReader(`{"nowMs":1,"checks":[{"key":"x","limit":1,"durationMs":1000,"cost":0}]}`)
	resp, err := http.Post("http://"+addr+cluster.PathDecide, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a decision without the secret answered %d, want 401", resp.StatusCode)
	}
	if _, err := rpcClient().Members(context.Background(), addr); err != nil {
		t.Fatalf("rpc with the secret: %v", err)
	}
}

// No Redis, three processes sharing PostgreSQL, static
// peers: 200 concurrent clients spread over the nodes, one identifier at
// 1000 per minute, exactly 1000 admitted, because every decision is
// forwarded to the identifier's owner.
func TestClusterRatelimitWithoutRedis(t *testing.T) {
	// The default failure timeout: this is about exactness, and a shorter
	// one can take a node of a loaded test machine for a dead one.
	nodes := newClusterConfigs(t, 3, clusterSpec{database: func() string { return testenv.FreshPostgresDatabase(t) },
		failureTimeoutMs: configs.DefaultFailureTimeoutMs})
	var servers []*testServer
	for _, n := range nodes {
		n.start(t)
		servers = append(servers, n.server)
	}
	waitAllAlive(t, nodes, 20*time.Second)
	exactlyOnce(t, servers, servers[0].RootKey, 200, 2000, 1000,
		map[string]any{"namespace": "cluster.noredis", "limit": 1000, "duration": 600000, "cost": 1})
}

// heartbeatReceiver is a monitor that records beats by node and can be
// switched to answer 500 or to hang.
type heartbeatReceiver struct {
	srv   *httptest.Server
	mode  atomic.Value // "ok", "fail", "hang"
	hang  chan struct{}
	mu    sync.Mutex
	beats map[string][]time.Time
	seen  map[string]map[string]any
}

func newHeartbeatReceiver(t *testing.T) *heartbeatReceiver {
	r := &heartbeatReceiver{hang: make(chan struct{}), beats: map[string][]time.Time{}, seen: map[string]map[string]any{}}
	r.mode.Store("ok")
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(req.Body).Decode(&b)
		id, _ := b["nodeId"].(string)
		r.mu.Lock()
		r.beats[id] = append(r.beats[id], time.Now())
		r.seen[id] = b
		r.mu.Unlock()
		switch r.mode.Load() {
		case "fail":
			http.Error(w, "monitor broken", http.StatusInternalServerError)
		case "hang":
			select {
			case <-r.hang:
			case <-req.Context().Done():
			}
		}
	}))
	t.Cleanup(func() { close(r.hang); r.srv.Close() })
	return r
}

func (r *heartbeatReceiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.beats[id])
}

// Every node POSTs its heartbeat at the configured interval;
// a monitor that answers 500 or hangs does not slow ratelimit.limit.
func TestClusterHeartbeat(t *testing.T) {
	recv := newHeartbeatReceiver(t)
	nodes := newClusterConfigs(t, 3, clusterSpec{extra: map[string]any{
		"heartbeat": map[string]any{"url": recv.srv.URL, "interval": 1},
		"platform":  "test-platform", "image": "test-image",
	}})
	for _, n := range nodes {
		n.start(t)
	}
	waitAllAlive(t, nodes, 20*time.Second)
	base := map[string]int{}
	for _, n := range nodes {
		base[n.id] = recv.count(n.id)
	}
	watch := time.Now()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, n := range nodes {
			if got := recv.count(n.id) - base[n.id]; got < 3 {
				return false, fmt.Sprintf("%s sent %d beats since the cluster formed", n.id, got)
			}
		}
		return true, ""
	})
	recv.mu.Lock()
	for _, n := range nodes {
		beats := recv.beats[n.id]
		for i := 1; i < len(beats); i++ {
			if gap := beats[i].Sub(beats[i-1]); gap < 700*time.Millisecond || gap > 1500*time.Millisecond {
				t.Errorf("%s: %v between beats %d and %d, want about 1 s", n.id, gap, i-1, i)
			}
		}
		b := recv.seen[n.id]
		if b["platform"] != "test-platform" || b["image"] != "test-image" || b["memberCount"] != float64(3) ||
			!strings.HasPrefix(b["region"].(string), "test-") || b["version"] == "" || b["uptimeSeconds"] == nil {
			t.Errorf("%s: beat %v", n.id, b)
		}
	}
	recv.mu.Unlock()
	t.Logf("3 beats from each node within %v", time.Since(watch).Round(time.Millisecond))

	for _, mode := range []string{"fail", "hang"} {
		recv.mode.Store(mode)
		before := recv.count(nodes[0].id)
		lat := measureLimitLatency(t, nodes, 2500*time.Millisecond)
		if recv.count(nodes[0].id) == before {
			t.Fatalf("monitor %s: no heartbeat reached it while latency was measured", mode)
		}
		t.Logf("monitor %s: ratelimit.limit p50 %v, p99 %v, max %v over %d requests (monitor timeout 1 s)",
			mode, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], len(lat))
		if lat[len(lat)*99/100] > 250*time.Millisecond {
			t.Fatalf("monitor %s slowed ratelimit.limit: p99 %v", mode, lat[len(lat)*99/100])
		}
	}

	// SIGTERM (with the monitor still hanging): the node leaves, so its
	// peers see it as left rather than failed, drains and exits 0.
	leaving := nodes[2]
	if err := leaving.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leaving.proc.done:
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM: still running after 20 s")
	}
	if leaving.proc.err != nil {
		t.Fatalf("SIGTERM: exited with %v", leaving.proc.err)
	}
	r, err := rpcClient().Members(context.Background(), nodes[0].rpcAddr)
	if err != nil || stateOf(r.Members, leaving.id) != cluster.StateLeft {
		t.Fatalf("after SIGTERM %s is %q on %s (%v)", leaving.id, stateOf(r.Members, leaving.id), nodes[0].id, err)
	}
}

// measureLimitLatency sends ratelimit.limit round robin over the nodes for
// d and returns the sorted latencies.
func measureLimitLatency(t *testing.T, nodes []*clusterNode, d time.Duration) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for i, start := 0, time.Now(); time.Since(start) < d; i++ {
		n := nodes[i%len(nodes)]
		began := time.Now()
		r := n.server.limit(t, n.server.RootKey, map[string]any{"namespace": "hb", "identifier": "u" + strconv.Itoa(i%50),
			"limit": 1 << 30, "duration": 60000})
		lat = append(lat, time.Since(began))
		if !r.Success {
			t.Fatalf("request %d denied: %+v", i, r)
		}
	}
	slices.Sort(lat)
	return lat
}
