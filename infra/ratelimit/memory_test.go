package ratelimit

import (
	"context"
	"github.com/keyline/keyline/events"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// feed sends n distinct identifiers through m at now.
func feed(m *Memory, now time.Time, n int) {
	checks := make([]events.RatelimitCheck, 1)
	for i := range n {
		checks[0] = events.RatelimitCheck{Key: "rlns_0123456789abcdef:user_" + strconv.Itoa(i), Limit: 100, Duration: 10 * time.Second, Cost: 1}
		_, _ = m.Decide(context.Background(), now, checks)
	}
}

// A million distinct identifiers grow the heap while their windows are live;
// once two windows have passed the janitor gives the memory back.
func TestMemoryIsBoundedByTheJanitor(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds a million identifiers")
	}
	const n = 1_000_000
	m := NewMemory()
	before := heapMiB()
	feed(m, base, n)
	if m.Len() != n {
		t.Fatalf("holds %d counters, want %d", m.Len(), n)
	}
	full := heapMiB()
	// One window later the counters are still needed (they weigh into the
	// current window); two windows later they are not.
	if left := m.Sweep(base.Add(10 * time.Second)); left != n {
		t.Fatalf("sweep one window later left %d, want %d", left, n)
	}
	if left := m.Sweep(base.Add(20 * time.Second)); left != 0 {
		t.Fatalf("sweep two windows later left %d, want 0", left)
	}
	after := heapMiB()
	t.Logf("heap: %.1f MiB empty, %.1f MiB with %d live counters, %.1f MiB after the janitor", before, full, n, after)
	if after-before > 16 {
		t.Fatalf("the janitor left %.1f MiB behind (%.1f before, %.1f after)", after-before, before, after)
	}
	// And the limiter still works after the rebuild.
	feed(m, base.Add(30*time.Second), 10)
	if m.Len() != 10 {
		t.Fatalf("holds %d counters after reuse", m.Len())
	}
}

func BenchmarkMemoryDistinctIdentifiers(b *testing.B) {
	m := NewMemory()
	checks := make([]events.RatelimitCheck, 1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		checks[0] = events.RatelimitCheck{Key: "ns:user_" + strconv.Itoa(i), Limit: 100, Duration: 10 * time.Second, Cost: 1}
		_, _ = m.Decide(context.Background(), base, checks)
	}
}

func BenchmarkMemoryOneIdentifier(b *testing.B) {
	m := NewMemory()
	checks := []events.RatelimitCheck{{Key: "ns:hot", Limit: 1 << 62, Duration: 10 * time.Second, Cost: 1}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = m.Decide(context.Background(), base, checks)
		}
	})
}
