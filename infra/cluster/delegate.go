package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Kinds of gossip payload, the first byte of every user message.
const (
	msgEvent byte = 'e' // a membership record (JSON Event)
	msgUser  byte = 'u' // a Broadcast payload
)

type nodeEventKind int

const (
	nodeJoined nodeEventKind = iota
	nodeGone
	nodeUpdated
)

// nodeEvent is a copy of what memberlist reported: memberlist reuses its
// *Node, so the delegate must not hand the pointer on.
type nodeEvent struct {
	kind nodeEventKind
	node memberlist.Node
}

// delegate adapts memberlist's callbacks. Every callback runs on one of
// memberlist's goroutines, some with its state lock held, so they only copy
// and hand on, never block.
type delegate struct{ c *Cluster }

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.c.self)
	if len(b) > limit {
		d.c.logger.Error("node meta exceeds memberlist's limit", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgEvent:
		var ev Event
		if err := json.Unmarshal(b[1:], &ev); err != nil {
			d.c.logger.Warn("undecodable gossip record", "error", err)
			return
		}
		if d.c.record(ev) {
			// Re-gossip what is new to us, so it spreads beyond the nodes
			// the origin happened to pick.
			d.c.broadcasts.QueueBroadcast(broadcast(slices.Clone(b)))
		}
	case msgUser:
		payload := slices.Clone(b[1:])
		d.c.mu.Lock()
		fns := slices.Clone(d.c.onMessage)
		d.c.mu.Unlock()
		for _, fn := range fns {
			fn(payload)
		}
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.broadcasts.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}
func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.send(nodeJoined, n) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.send(nodeGone, n) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.send(nodeUpdated, n) }

// send records the change in the node copies the live set is built from,
// then queues it for the event loop. memberlist calls it with its node lock
// held, which is the only moment its *Node may be read: the pointers that
// Memberlist.Members returns are written by memberlist's goroutines later
// (hashicorp/memberlist#306), so keyline never reads through them.
func (d *delegate) send(k nodeEventKind, n *memberlist.Node) {
	cp := *n
	cp.Addr = slices.Clone(n.Addr)
	cp.Meta = slices.Clone(n.Meta)
	d.c.nodesMu.Lock()
	if k == nodeGone {
		delete(d.c.nodes, cp.Name)
	} else {
		d.c.nodes[cp.Name] = cp
	}
	d.c.nodesMu.Unlock()
	select {
	case d.c.nodeEvents <- nodeEvent{kind: k, node: cp}:
	default:
		// The copies above are already current and the next event rebuilds
		// the live set from them, so a dropped notification loses a record,
		// not the membership.
		d.c.logger.Warn("membership event queue full; record dropped", "node", n.Name)
	}
}

// NotifyMerge refuses a join that would give two live nodes the same ID:
// ownership of counters is by node ID, so a duplicate would split them.
// On the joining side it also stops the node (Run returns the error).
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if p.State != memberlist.StateAlive {
			continue
		}
		addr := net.JoinHostPort(p.Addr.String(), strconv.Itoa(int(p.Port)))
		if p.Name == d.c.cfg.NodeID && addr != d.c.selfGossip {
			err := fmt.Errorf("node id %q is already used by the live member at %s: refusing to join; give every node its own cluster.nodeId",
				p.Name, addr)
			select {
			case d.c.fatal <- err:
			default:
			}
			return err
		}
		if p.Name == d.c.cfg.NodeID {
			continue
		}
		d.c.mu.Lock()
		known, ok := d.c.table[p.Name]
		d.c.mu.Unlock()
		if ok && known.State == StateAlive && known.GossipAddr != addr {
			d.c.logger.Error("refused a join: node id already used by a live member",
				"nodeIdInUse", p.Name, "member", known.GossipAddr, "joiner", addr)
			return fmt.Errorf("node id %q is in use by %s", p.Name, known.GossipAddr)
		}
	}
	return nil
}

func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.c.logger.Error("two nodes claim the same node id; the newcomer is ignored",
		"nodeId", existing.Name, "member", existing.Address(), "other", other.Address())
}

// eventLoop turns memberlist notifications into the live set, the table,
// OnChange calls and membership records.
func (c *Cluster) eventLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-c.nodeEvents:
			c.handle(ev)
		}
	}
}

func (c *Cluster) handle(ev nodeEvent) {
	n := ev.node
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	m, _ := decodeMeta(n.Meta)
	if n.Name != c.cfg.NodeID {
		switch ev.kind {
		case nodeJoined:
			c.logger.Info("member joined", "member", n.Name, "addr", addr)
			c.emit(Event{Name: EventNodeJoined, NodeID: n.Name, Addr: addr, Region: m.Region}, false)
		case nodeGone:
			name, state := EventNodeFailed, StateFailed
			c.mu.Lock()
			if at, ok := c.leaving[n.Name]; ok && time.Since(at) < time.Minute {
				name, state = EventNodeLeft, StateLeft
			}
			delete(c.leaving, n.Name)
			if p, ok := c.table[n.Name]; ok {
				p.State = state
			}
			c.mu.Unlock()
			c.logger.Warn("member gone", "member", n.Name, "addr", addr, "state", state)
			c.emit(Event{Name: name, NodeID: n.Name, Addr: addr, Region: m.Region}, false)
		}
	}
	c.refresh()
}

// refresh rebuilds the live set from the node copies and tells the
// OnChange subscribers. A member counts as live from its join until
// memberlist declares it dead or gone, suspicion included.
func (c *Cluster) refresh() {
	var live []Peer
	for _, n := range c.nodeCopies() {
		m, err := decodeMeta(n.Meta)
		if err != nil {
			c.logger.Warn("ignoring a member with unreadable meta", "member", n.Name, "error", err)
			continue
		}
		live = append(live, Peer{NodeID: n.Name, GossipAddr: n.Address(), RPCAddr: m.RPCAddr,
			HTTPPort: m.HTTPPort, Region: m.Region, State: StateAlive})
	}
	slices.SortFunc(live, func(a, b Peer) int { return cmpString(a.NodeID, b.NodeID) })
	c.alive.Store(&live)
	c.mu.Lock()
	for _, p := range live {
		if old, ok := c.table[p.NodeID]; ok {
			p.LastHeartbeat, p.Load = old.LastHeartbeat, old.Load
		}
		c.table[p.NodeID] = &p
	}
	// Forget members that have been gone for a long time, so a churning
	// deployment does not grow the table forever.
	for id, p := range c.table {
		if p.State != StateAlive && !p.LastHeartbeat.IsZero() && time.Since(p.LastHeartbeat) > time.Hour {
			delete(c.table, id)
		}
	}
	fns := slices.Clone(c.onChange)
	c.mu.Unlock()
	for _, fn := range fns {
		fn(slices.Clone(live))
	}
}

// nodeCopies returns the members memberlist last reported alive.
func (c *Cluster) nodeCopies() []memberlist.Node {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	out := make([]memberlist.Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

// broadcast is a gossip payload with no invalidation: every record is
// distinct.
type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}

// newMemberlistLogger routes memberlist's "[LEVEL] memberlist: ..." lines
// into slog at the matching level; DEBUG lines are dropped (they log every
// probe).
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	switch {
	case strings.HasPrefix(line, "[DEBUG]"):
		return len(p), nil
	case strings.HasPrefix(line, "[WARN]"):
		level = slog.LevelWarn
	case strings.HasPrefix(line, "[ERR]"):
		level = slog.LevelError
	}
	if i := strings.Index(line, "] "); i >= 0 {
		line = line[i+2:]
	}
	w.l.Log(context.Background(), level, line)
	return len(p), nil
}
