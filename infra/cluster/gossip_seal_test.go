package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/testenv"
)

// wireTap records every byte a member's memberlist hands to the network:
// its packets and what it writes on the streams it dials.
type wireTap struct {
	memberlist.Transport
	mu   sync.Mutex
	sent bytes.Buffer
}

func (w *wireTap) record(b []byte) {
	w.mu.Lock()
	w.sent.Write(b)
	w.mu.Unlock()
}

func (w *wireTap) WriteTo(b []byte, addr string) (time.Time, error) {
	w.record(b)
	return w.Transport.WriteTo(b, addr)
}

func (w *wireTap) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	conn, err := w.Transport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: conn, w: w}, nil
}

func (w *wireTap) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.sent.Bytes())
}

type tappedConn struct {
	net.Conn
	w *wireTap
}

func (c *tappedConn) Write(b []byte) (int, error) {
	c.w.record(b)
	return c.Conn.Write(b)
}

// logLines is a slog handler that keeps every message, for a test to wait
// on what a member logged.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) find(substr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}

// Gossip is sealed under a key derived from cluster.secret: what a member
// sends never shows the members' names or addresses, and a node with
// another secret is refused (its messages cannot be opened) and never
// joins, while the two members keep seeing each other.
func TestGossipIsSealedBySecret(t *testing.T) {
	taps := map[string]*wireTap{}
	var mu sync.Mutex
	wrapTransport = func(id string, tr memberlist.Transport) memberlist.Transport {
		w := &wireTap{Transport: tr}
		mu.Lock()
		taps[id] = w
		mu.Unlock()
		return w
	}
	t.Cleanup(func() { wrapTransport = nil })

	one := nodeConfig(t, "sealed-member-one", nil)
	two := nodeConfig(t, "sealed-member-two", nil)
	peers := gossipAddrs([]*configs.Config{one, two})
	one.Cluster.Discovery.Static.Addrs, two.Cluster.Discovery.Static.Addrs = peers, peers
	logs := &logLines{}
	first := startNodeLogging(t, one, slog.New(logs))
	second := startNode(t, two)
	members := []*node{first, second}
	waitMembers(t, members, 2)

	// A stranger that knows the gossip address but not the secret.
	strangerCfg := nodeConfig(t, "sealed-stranger", peers[:1])
	strangerCfg.Cluster.Secret = "another secret"
	stranger := startNode(t, strangerCfg)
	wrapTransport = nil
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		if line := logs.find("decrypt"); line == "" {
			return false, "the first member has not yet refused the stranger's gossip"
		}
		return true, ""
	})
	waitMembers(t, members, 2)
	if got := len(stranger.c.Peers()); got != 1 {
		t.Fatalf("the stranger sees %d members, want only itself", got)
	}

	// Each member probes the others every half second; wait until every
	// tap has seen some of it.
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for id, tap := range taps {
			if len(tap.bytes()) == 0 {
				return false, id + " has sent nothing the tap saw yet"
			}
		}
		return true, ""
	})
	if len(taps) != 3 {
		t.Fatalf("%d taps, want 3", len(taps))
	}
	for id, tap := range taps {
		sent := tap.bytes()
		for _, plain := range []string{"sealed-member-", "sealed-stranger", "127.0.0.1"} {
			if bytes.Contains(sent, []byte(plain)) {
				t.Errorf("%s sent %q in the clear (%d bytes tapped)", id, plain, len(sent))
			}
		}
	}
}
