package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// BenchmarkSpendCredits measures the conditional UPDATE every verification
// of a limited key costs on the PostgreSQL primary: on one hot key (all
// spenders serialise on its row) and spread over many keys.
//
//	go test -run XXX -bench SpendCredits -benchtime 3s ./cmd/keyline/
func BenchmarkSpendCredits(b *testing.B) {
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: testenv.FreshPostgresDatabase(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	if err := (projections.KeyCredits{}).Setup(ctx, db.Primary); err != nil {
		b.Fatal(err)
	}
	const keys = 256
	for i := range keys {
		if _, err := db.Primary.ExecContext(ctx, "INSERT INTO key_credits (key_id, remaining, logged, epoch) VALUES (?, ?, ?, 1)",
			fmt.Sprintf("key_%d", i), int64(1)<<60, int64(1)<<60); err != nil {
			b.Fatal(err)
		}
	}
	r := projections.NewReader(db)
	for _, spread := range []int{1, keys} {
		b.Run(fmt.Sprintf("keys=%d", spread), func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("key_%d", n.Add(1)%int64(spread))
					if _, _, ok, err := r.SpendCredits(ctx, id, 1); err != nil || !ok {
						b.Fatalf("spend: %v %v", ok, err)
					}
				}
			})
		})
	}
}
