package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// discovery gives memberlist addresses to join. It only seeds: once a node
// is in, gossip keeps its view current.
type discovery interface {
	run(c *Cluster) func(context.Context)
	deregister()
	close()
}

// joinBackoff bounds the pause between two join attempts: short at first,
// so a cluster whose nodes start together forms quickly, then up to a few
// seconds, so a node waiting for absent peers does not hammer them.
const (
	joinBackoffMin = 100 * time.Millisecond
	joinBackoffMax = 5 * time.Second
)

type staticDiscovery struct {
	addrs []string
}

func newStaticDiscovery(addrs []string, self string) *staticDiscovery {
	var out []string
	for _, a := range addrs {
		if !sameAddr(a, self) {
			out = append(out, a)
		}
	}
	return &staticDiscovery{addrs: out}
}

// run joins the listed peers, retrying with back-off until one answers,
// and again whenever this node finds itself alone (every peer restarted, or
// a partition): the listed peers are the only way back in.
func (s *staticDiscovery) run(c *Cluster) func(context.Context) {
	return func(ctx context.Context) {
		if len(s.addrs) == 0 {
			return
		}
		backoff := joinBackoffMin
		for {
			if c.ml.NumMembers() <= 1 {
				n, err := c.ml.Join(s.addrs)
				if n > 0 {
					c.logger.Info("joined the cluster", "contacted", n, "members", c.ml.NumMembers())
					backoff = joinBackoffMin
				} else {
					c.logger.Debug("no peer answered yet; retrying", "peers", s.addrs, "error", err, "in", backoff)
					backoff = min(backoff*2, joinBackoffMax)
				}
			} else {
				backoff = joinBackoffMax
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
}

func (s *staticDiscovery) deregister() {}
func (s *staticDiscovery) close()      {}

// sameAddr compares host:port strings, treating localhost as 127.0.0.1.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	norm := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(ha) == norm(hb) && pa == pb
}

// redisDiscovery keeps one key per node, <prefix>node:<nodeId>, holding its
// gossip address with a TTL of three refresh periods: a node that dies
// without leaving disappears from the registry on its own.
type redisDiscovery struct {
	client *redis.Client
	prefix string
	nodeID string
	addr   string
	every  time.Duration
	logger *slog.Logger
}

type registration struct {
	GossipAddr string    `json:"gossipAddr"`
	At         time.Time `json:"at"`
}

func newRedisDiscovery(url, prefix, nodeID, addr string, every time.Duration, logger *slog.Logger) (*redisDiscovery, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("cluster.discovery.redis.url: %w", err)
	}
	opts.MaxRetries = 1
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	return &redisDiscovery{client: redis.NewClient(opts), prefix: prefix, nodeID: nodeID, addr: addr,
		every: every, logger: logger}, nil
}

func (r *redisDiscovery) key(id string) string { return r.prefix + "node:" + id }

// run registers this node and joins every registered node it does not know
// yet, once per period; the first rounds come quicker so that nodes started
// together find each other within a second.
func (r *redisDiscovery) run(c *Cluster) func(context.Context) {
	return func(ctx context.Context) {
		pause := joinBackoffMin
		for {
			if err := r.round(ctx, c); err != nil && ctx.Err() == nil {
				c.logger.Warn("redis discovery round failed; retrying", "error", err, "in", pause)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(pause*2, r.every)
		}
	}
}

func (r *redisDiscovery) round(ctx context.Context, c *Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, _ := json.Marshal(registration{GossipAddr: r.addr, At: time.Now().UTC()})
	if err := r.client.Set(ctx, r.key(r.nodeID), b, 3*r.every).Err(); err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	known := map[string]bool{}
	for _, m := range c.nodeCopies() {
		known[m.Name] = true
	}
	var join []string
	iter := r.client.Scan(ctx, 0, escapeGlob(r.prefix)+"node:*", 256).Iterator()
	for iter.Next(ctx) {
		id := strings.TrimPrefix(iter.Val(), r.prefix+"node:")
		if id == r.nodeID || known[id] {
			continue
		}
		raw, err := r.client.Get(ctx, iter.Val()).Bytes()
		if err != nil {
			continue // expired between SCAN and GET
		}
		var reg registration
		if json.Unmarshal(raw, &reg) == nil && reg.GossipAddr != "" {
			join = append(join, reg.GossipAddr)
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(join) == 0 {
		return nil
	}
	n, err := c.ml.Join(join)
	if n > 0 {
		c.logger.Info("joined registered nodes", "contacted", n, "members", c.ml.NumMembers())
		return nil
	}
	return fmt.Errorf("joining %v: %w", join, err)
}

func (r *redisDiscovery) deregister() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Only our own registration: a restarted node with the same ID may
	// already have replaced it.
	raw, err := r.client.Get(ctx, r.key(r.nodeID)).Bytes()
	var reg registration
	if err == nil && json.Unmarshal(raw, &reg) == nil && reg.GossipAddr == r.addr {
		r.client.Del(ctx, r.key(r.nodeID))
	}
}

func (r *redisDiscovery) close() { _ = r.client.Close() }

// escapeGlob quotes what SCAN MATCH treats specially, so the prefix only
// matches itself.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, ch := range s {
		if strings.ContainsRune(`*?[]\^-`, ch) {
			b.WriteByte('\\')
		}
		b.WriteRune(ch)
	}
	return b.String()
}
