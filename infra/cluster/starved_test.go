package cluster

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/keyline/keyline/infra/testenv"
)

// freezable stands between memberlist and the network. While frozen, the
// member neither receives nor sends anything (its probe and gossip loops
// block on their first send), which is how a process starved of CPU looks
// to the others; thawing delivers what was held.
type freezable struct {
	memberlist.Transport
	packets chan *memberlist.Packet
	streams chan net.Conn
	// done: memberlist shuts down, stop delivering (but keep draining, the
	// inner listeners block until read); stopped: the inner transport is
	// down, stop draining.
	done, stopped chan struct{}

	mu   sync.Mutex
	gate chan struct{} // closed while not frozen
}

func newFreezable(inner memberlist.Transport) *freezable {
	f := &freezable{Transport: inner, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		done: make(chan struct{}), stopped: make(chan struct{}), gate: make(chan struct{})}
	close(f.gate)
	go relay(f, inner.PacketCh(), f.packets)
	go relay(f, inner.StreamCh(), f.streams)
	return f
}

func relay[T any](f *freezable, in <-chan T, out chan<- T) {
	for {
		select {
		case <-f.stopped:
			return
		case v := <-in:
			f.wait()
			select {
			case out <- v:
			case <-f.done: // memberlist is gone: drop it
			}
		}
	}
}

func (f *freezable) wait() {
	f.mu.Lock()
	g := f.gate
	f.mu.Unlock()
	select {
	case <-g:
	case <-f.done:
	}
}

func (f *freezable) freeze() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *freezable) thaw() {
	f.mu.Lock()
	select {
	case <-f.gate:
	default:
		close(f.gate)
	}
	f.mu.Unlock()
}

func (f *freezable) PacketCh() <-chan *memberlist.Packet { return f.packets }
func (f *freezable) StreamCh() <-chan net.Conn           { return f.streams }

func (f *freezable) WriteTo(b []byte, addr string) (time.Time, error) {
	f.wait()
	return f.Transport.WriteTo(b, addr)
}

func (f *freezable) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	f.wait()
	return f.Transport.DialTimeout(addr, timeout)
}

func (f *freezable) Shutdown() error {
	close(f.done)
	err := f.Transport.Shutdown()
	close(f.stopped)
	return err
}

// A member that goes silent for a second (a process starved of CPU, a long
// GC pause) is suspected but refutes it once it runs again: at the default
// failure timeout nobody declares it dead, and its keys stay where they
// are. Silent for longer than the failure timeout, it is declared dead:
// that shows the freeze is real. See timings for the arithmetic (a member
// survives about 5/6 of the failure timeout of silence).
func TestStarvedMemberIsNotDeclaredDead(t *testing.T) {
	var mu sync.Mutex
	frozen := map[string]*freezable{}
	wrapTransport = func(id string, tr memberlist.Transport) memberlist.Transport {
		f := newFreezable(tr)
		mu.Lock()
		frozen[id] = f
		mu.Unlock()
		return f
	}
	t.Cleanup(func() { wrapTransport = nil })
	nodes := startCluster(t, 3)
	wrapTransport = nil
	n1 := frozen["n1"]
	failed := func(n *node) int {
		c := 0
		for _, ev := range n.c.Recent() {
			if ev.Name == EventNodeFailed && ev.NodeID == "n1" && ev.Observer == n.c.NodeID() {
				c++
			}
		}
		return c
	}

	const silence = time.Second
	n1.freeze()
	time.Sleep(silence) // the starvation under test
	n1.thaw()
	// Watch until well past the point where a suspicion raised during
	// the silence would have expired.
	watchUntil := time.Now().Add(time.Duration(testFailureTimeoutMs) * time.Millisecond)
	for time.Now().Before(watchUntil) {
		for _, n := range nodes {
			if got := len(n.c.Peers()); got != 3 {
				logMembership(t, n)
				t.Fatalf("after %v of silence from n1, %s sees %d live members", silence, n.c.NodeID(), got)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range nodes[1:] {
		if c := failed(n); c != 0 {
			t.Fatalf("%s declared n1 failed %d times after %v of silence", n.c.NodeID(), c, silence)
		}
	}

	// Control: silent beyond the failure timeout, n1 is declared dead.
	n1.freeze()
	defer n1.thaw()
	start := time.Now()
	testenv.Eventually(t, 4*time.Duration(testFailureTimeoutMs)*time.Millisecond, func() (bool, string) {
		for _, n := range nodes[1:] {
			if failed(n) == 0 {
				return false, fmt.Sprintf("%s has not declared the frozen n1 failed", n.c.NodeID())
			}
		}
		return true, ""
	})
	t.Logf("frozen n1 declared failed by both peers after %v", time.Since(start).Round(time.Millisecond))
}
