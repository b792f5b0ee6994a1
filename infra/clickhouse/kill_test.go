package clickhouse_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/clickhouse"
	"github.com/keyline/keyline/infra/testenv"
)

// Issue 6, Done 2, with real crashes: a private server is killed with
// SIGKILL at a random moment of an insert, several times, while batches
// are written the way the projector writes them (a fresh insert; after an
// error, suspect retries until one succeeds). Whether or not a kill hit the
// moment between the raw part and the view parts, the rollups end up
// holding exactly what the raw tables hold, which is exactly what was sent.
func TestWriteAnalyticsSurvivesServerKill(t *testing.T) {
	server := testenv.StartClickHouse(t)
	ctx := context.Background()
	db, err := clickhouse.Open(ctx, server.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	deadline := time.Now().Add(60 * time.Second)
	// write is the projector's loop: insert (suspect after a failed
	// attempt), and after an error retry as suspect until ClickHouse accepts
	// the batch.
	write := func(batch []events.AnalyticsEvent, suspect bool) (failed bool) {
		_, err := db.WriteAnalytics(ctx, batch, suspect)
		for err != nil {
			failed = true
			if time.Now().After(deadline.Add(time.Minute)) {
				t.Fatalf("ClickHouse did not accept a retried batch: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			_, err = db.WriteAnalytics(ctx, batch, true)
		}
		return failed
	}
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	var sent [][]events.AnalyticsEvent
	took := 100 * time.Millisecond
	// at is when to kill, as a fraction of a typical insert: it moves
	// towards the window between the raw part and the view parts.
	at := 0.5
	kills, cut := 0, 0
	for i := 0; kills < 8 && cut < 3 && time.Now().Before(deadline); i++ {
		tag := fmt.Sprintf("k%d", i)
		batch := concat(verifications(tag, 5000, start), decisions(tag+"_rl", 2000, start))
		sent = append(sent, batch)
		if i%2 == 0 {
			began := time.Now()
			if !write(batch, false) {
				took = (took + time.Since(began)) / 2
			}
			continue
		}
		killed := make(chan struct{})
		after := time.Duration(float64(took) * at * (0.8 + 0.4*rng.Float64()))
		go func() { // the test waits for it below
			time.Sleep(after)
			server.Kill()
			close(killed)
		}()
		_, err := db.WriteAnalytics(ctx, batch, false)
		<-killed
		kills++
		server.Start()
		if err == nil { // the insert was through before the kill
			at = max(at-0.15, 0.05)
			continue
		}
		if tables := rollupsWithout(t, db, batch[0].ID, batch[len(batch)-1].ID); len(tables) > 0 {
			cut++
			t.Logf("kill %d left the raw table with the batch and %v without it", kills, tables)
		} else {
			at = min(at+0.1, 1.5)
		}
		write(batch, true)
	}
	t.Logf("%d kills; %d cut an insert between the raw part and the view parts; insert ~%s", kills, cut, took)
	if kills == 0 {
		t.Fatal("no kill within the time limit")
	}
	wantVer, wantRL := want(sent...)
	expectExact(t, db, wantVer, wantRL)
}

// rollupsWithout names the rollups that lack the marker of the batch
// holding the raw verification verificationID, or the raw rate-limit
// decision ratelimitID: the rollups a crash cut short.
func rollupsWithout(t *testing.T, db *clickhouse.DB, verificationID, ratelimitID string) []string {
	t.Helper()
	var out []string
	for _, f := range []struct{ raw, rollup, id string }{
		{"key_verifications_raw_v1", "key_verifications_per_", verificationID},
		{"ratelimits_raw_v1", "ratelimits_per_", ratelimitID},
	} {
		var batch string
		var err error
		// The server has just restarted: give it a few attempts.
		for range 50 {
			batch = ""
			if err = db.Conn.QueryRow(context.Background(),
				"SELECT any(batch_id) FROM "+f.raw+" WHERE event_id = ?", f.id).Scan(&batch); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if batch == "" {
			continue
		}
		for _, g := range grains {
			table := f.rollup + g + "_v1"
			if lines(t, db, "SELECT toString(count()) FROM "+table+" WHERE batch_marker = '"+batch+"'") == "0" {
				out = append(out, table)
			}
		}
	}
	return out
}
