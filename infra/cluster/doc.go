// Package cluster turns a set of keyline processes into one cluster, behind
// a small surface: Peers, OnChange, Broadcast/OnMessage, an RPC port and a
// rate limiter that forwards decisions to the owner of each counter.
//
// Membership is hashicorp/memberlist (SWIM gossip) on cluster.gossipPort,
// sealed with memberlist's keyring under a key derived from cluster.secret,
// so only holders of the secret can read the gossip or take part in it.
// Everything memberlist-specific stays in this package; the rest of keyline
// sees Peer values. Why memberlist rather than a registry lookup per
// request: failure detection is decentralised (no single node or Redis has
// to be up to notice a crash), and the member list is local, so choosing the
// owner of a counter costs no I/O.
//
// Each node advertises versioned JSON meta ({"v":1,"rpcAddr",...}). A newer
// version must keep the v1 fields, so mixed-version clusters keep routing
// during a rolling upgrade.
//
// Discovery only seeds memberlist: the static list or the Redis registry
// gives addresses to join, retried with back-off, so nodes may start in any
// order. Once joined, gossip keeps the view current.
//
// Membership records (cluster.node_joined, cluster.node_left,
// cluster.node_failed, cluster.node_heartbeat; see event.go) are
// operational telemetry, not domain events: they never enter the SQL event
// log. They go to the Redis stream keyline.cluster when Redis is configured
// and are gossiped between members otherwise.
//
// Limiter (limiter.go) makes rate limits exact across nodes without Redis:
// every counter key has one owner among the live members (rendezvous
// hashing), and other nodes forward the decision to it over the RPC port.
package cluster
