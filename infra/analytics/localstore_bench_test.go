package analytics

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
)

// BenchmarkLocalStorePublish is the embedded default's cost per analytics
// record (ns/op is per record): what every verification adds to the CPU
// the HTTP path shares, in batches of the sink's size.
func BenchmarkLocalStorePublish(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(map[int]string{100: "batch100", 1000: "batch1000"}[batch], func(b *testing.B) {
			db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: "sqlite:" + filepath.Join(b.TempDir(), "bench.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer cleanup()
			store, err := NewLocalStore(context.Background(), db, 1_000_000)
			if err != nil {
				b.Fatal(err)
			}
			evs := make([]events.AnalyticsEvent, batch)
			b.ReportAllocs()
			b.ResetTimer()
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
		})
	}
}
