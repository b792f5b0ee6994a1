package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/testenv"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines containing substr.
func (b *lockedBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for l := range strings.Lines(b.buf.String()) {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// keyOwnedBy returns a key that node owns among peers.
func keyOwnedBy(t *testing.T, peers []Peer, node, prefix string) string {
	t.Helper()
	for i := range 10000 {
		k := prefix + strconv.Itoa(i)
		if peers[Owner(peers, k)].NodeID == node {
			return k
		}
	}
	t.Fatalf("no key of %d owned by %s", 10000, node)
	return ""
}

// The owner's RPC port stops answering while gossip keeps it a member.
// failMode closed denies every decision for its keys with the limit's
// normal denied answer; failMode open decides them on the caller's own
// counters. Each is counted, and logged at most once per second. Both a
// refused connection (retried, then given up) and an owner that accepts
// but never answers (cut at forwardTimeoutMs) are covered.
func TestFailModeWhenOwnerUnreachable(t *testing.T) {
	const forwardTimeout = 400 * time.Millisecond
	for _, mode := range []string{configs.FailModeOpen, configs.FailModeClosed} {
		t.Run(mode, func(t *testing.T) {
			nodes := startClusterWith(t, 2, func(c *configs.Cluster) {
				c.FailMode = mode
				c.ForwardTimeoutMs = int(forwardTimeout / time.Millisecond)
				// The owner must stay a member: only its RPC port goes.
				c.FailureTimeoutMs = 20_000
			})
			caller, owner := nodes[0], nodes[1]
			var logs lockedBuffer
			caller.l.logger = slog.New(slog.NewTextHandler(&logs, nil))
			// However slow the machine, the five failures below fall in
			// one summary period.
			caller.l.logEvery = time.Hour
			peers := caller.c.Peers()
			const limit = 3
			decide := func(key string) events.RatelimitDecision {
				t.Helper()
				now := time.Now()
				ds, err := caller.l.Decide(context.Background(), now,
					[]events.RatelimitCheck{{Key: key, Limit: limit, Duration: time.Minute, Cost: 1}})
				if err != nil {
					t.Fatal(err)
				}
				d := ds[0]
				if !d.Passed {
					// The denied answer, whoever gave it: nothing left until
					// the end of the current one-minute window.
					wantReset := (now.UnixMilli()/60000 + 1) * 60000
					if d.Limit != limit || d.Remaining != 0 || d.Reset != wantReset {
						t.Errorf("denied answer %+v, want limit %d, remaining 0, reset %d", d, limit, wantReset)
					}
				}
				return d
			}
			counts := func() (opens, closes uint64) { return caller.l.FailOpens(), caller.l.FailCloses() }

			refused := keyOwnedBy(t, peers, owner.c.NodeID(), "ns:refused")
			if d := decide(refused); !d.Passed || d.Remaining != limit-1 {
				t.Fatalf("with the owner up: %+v, want passed with %d left", d, limit-1)
			}
			if o, c := counts(); o != 0 || c != 0 {
				t.Fatalf("with the owner up: %d fail-opens, %d fail-closes", o, c)
			}

			// Refused: the owner's RPC port is closed, gossip goes on.
			rpcAddr := owner.c.self.RPCAddr
			if err := owner.c.rpc.Close(); err != nil {
				t.Fatal(err)
			}
			passed := 0
			for range 5 {
				if decide(refused).Passed {
					passed++
				}
			}
			opens, closes := counts()
			if mode == configs.FailModeOpen {
				// The caller's own counter starts empty: 3 of 5 pass.
				if passed != limit || opens != 5 || closes != 0 {
					t.Fatalf("fail open: %d of 5 passed (want %d), %d fail-opens (want 5), %d fail-closes", passed, limit, opens, closes)
				}
			} else if passed != 0 || opens != 0 || closes != 5 {
				t.Fatalf("fail closed: %d of 5 passed (want 0), %d fail-closes (want 5), %d fail-opens", passed, closes, opens)
			}
			counted := "decidedLocally"
			if mode == configs.FailModeClosed {
				counted = "denied"
			}
			// The first failure is logged at once, the next four only in
			// the next summary.
			lines := logs.lines("rate-limit owner did not answer")
			if len(lines) != 1 || !strings.Contains(lines[0], counted+"=1 ") || !strings.Contains(lines[0], "failMode="+mode) {
				t.Fatalf("after 5 failures, logged %q; want one line with %s=1", lines, counted)
			}
			caller.l.summarize(time.Now().Add(2 * time.Hour))
			lines = logs.lines("rate-limit owner did not answer")
			if len(lines) != 2 || !strings.Contains(lines[1], counted+"=4 ") || !strings.Contains(lines[1], "lastOwner="+owner.c.NodeID()) {
				t.Fatalf("summary: %q; want a second line with %s=4", lines, counted)
			}

			// Hung: something accepts on the owner's RPC port and never
			// answers. The forward gives up at forwardTimeoutMs.
			ln, err := net.Listen("tcp", rpcAddr)
			if err != nil {
				t.Fatal(err)
			}
			var held []net.Conn
			var heldMu sync.Mutex
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					heldMu.Lock()
					held = append(held, c)
					heldMu.Unlock()
				}
			}()
			t.Cleanup(func() {
				_ = ln.Close()
				heldMu.Lock()
				for _, c := range held {
					_ = c.Close()
				}
				heldMu.Unlock()
			})
			hung := keyOwnedBy(t, peers, owner.c.NodeID(), "ns:hung")
			start := time.Now()
			d := decide(hung)
			took := time.Since(start)
			if took < forwardTimeout || took > forwardTimeout+3*time.Second {
				t.Errorf("a hung owner held the decision %v, want %v (plus scheduling)", took, forwardTimeout)
			}
			opens, closes = counts()
			if mode == configs.FailModeOpen {
				if !d.Passed || d.Remaining != limit-1 || opens != 6 {
					t.Fatalf("fail open, hung owner: %+v, %d fail-opens; want passed with %d left, 6", d, opens, limit-1)
				}
			} else if d.Passed || closes != 6 {
				t.Fatalf("fail closed, hung owner: %+v, %d fail-closes; want denied, 6", d, closes)
			}
			heldCount := func() int { heldMu.Lock(); defer heldMu.Unlock(); return len(held) }
			testenv.Eventually(t, 5*time.Second, func() (bool, string) { return heldCount() > 0, "the hung owner was never called" })
			if n := heldCount(); n != 1 {
				t.Errorf("the hung owner got %d connections, want 1 (a sent request is not retried)", n)
			}
		})
	}
}
