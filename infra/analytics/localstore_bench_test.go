package analytics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// BenchmarkLocalStorePublish is the embedded default's cost per analytics
// record (ns/op is per record): what every verification adds to the CPU
// the HTTP path shares, in batches of the sink's size, with and without
// the query tables counted in the same transaction (the embedded default
// counts them).
func BenchmarkLocalStorePublish(b *testing.B) {
	for _, bc := range []struct {
		batch  int
		counts bool
	}{{100, false}, {1000, false}, {100, true}, {1000, true}} {
		name := fmt.Sprintf("batch%d", bc.batch)
		if bc.counts {
			name += "+counts"
		}
		b.Run(name, func(b *testing.B) {
			batch := bc.batch
			db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: "sqlite:" + filepath.Join(b.TempDir(), "bench.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer cleanup()
			store, err := NewLocalStore(context.Background(), db, 1_000_000)
			if err != nil {
				b.Fatal(err)
			}
			if bc.counts {
				q, err := NewLocalQuery(context.Background(), db, 1_000_000, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					b.Fatal(err)
				}
				store.CountInto(q)
			}
			evs := make([]events.AnalyticsEvent, batch)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for done := 0; done < b.N; done += batch {
				for i := range evs {
					evs[i] = events.NewKeyVerified(1764201660000, "req_0123456789abcdef", "ws_0123456789abcdef", "local", events.KeyVerified{
						KeySpaceID: "ks_0123456789abcdef", KeyID: "key_0123456789abcdef", Outcome: "VALID", LatencyMs: 0.1})
					evs[i].ID = NewID()
				}
				if err := store.Publish(context.Background(), evs, false); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, unlike ns/op, hardly depends on what else the
			// machine runs.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
