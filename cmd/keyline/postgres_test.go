package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/testenv"
)

// Two servers sharing one PostgreSQL database and Redis: a write answered by
// one is readable on the other at once, and the outbox relays it to the
// Redis stream for downstream consumers.
func TestPostgresServersShareOneStore(t *testing.T) {
	cfg := postgresConfig(t)
	cfg.Redis = &configs.Redis{URL: testenv.RedisURL(t)}
	a := startServer(t, cfg)
	cfgB := *cfg
	cfgB.Bootstrap = &configs.Bootstrap{RootKey: a.RootKey}
	b := startServer(t, &cfgB)

	for i := range 20 {
		id := a.createAPI(t, a.RootKey, fmt.Sprintf("shared api %d", i))
		var got struct{ ID, Name string }
		b.must(t, b.RootKey, "apis.getApi", map[string]string{"apiId": id}, &got)
		if got.Name != fmt.Sprintf("shared api %d", i) {
			t.Fatalf("node B read %+v", got)
		}
		b.must(t, b.RootKey, "apis.deleteApi", map[string]string{"apiId": id}, nil)
		status, r := a.call(t, a.RootKey, "apis.getApi", map[string]string{"apiId": id})
		expectError(t, status, r, 404, "unkey/data/api_not_found")
	}

	last := a.createAPI(t, a.RootKey, "relayed to redis")
	rdb, err := redisstream.NewClient(context.Background(), cfg.Redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		msgs, err := rdb.XRevRangeN(context.Background(), redisstream.EventsTopic, "+", "-", 500).Result()
		if err != nil {
			return false, err.Error()
		}
		for _, m := range msgs {
			if payload, ok := m.Values["payload"].(string); ok && containsAll(payload, last, `"name":"api.created"`) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("api.created for %s not on stream %s among %d messages", last, redisstream.EventsTopic, len(msgs))
	})
}

// 16 concurrent writers × 500 createApi against PostgreSQL: every API is in
// the read model, and a tailer following the log by position saw every
// event, none skipped, in strictly increasing order.
func TestConcurrentWritersSkipNoEvent(t *testing.T) {
	cfg := postgresConfig(t)
	ts := startServer(t, cfg)

	var seen sync.Map
	var seenCount, outOfOrder atomic.Int64
	var lastPos atomic.Int64
	ts.Server.Tailer.Subscribe(func(r events.Recorded) {
		if r.Position <= lastPos.Load() {
			outOfOrder.Add(1)
		}
		lastPos.Store(r.Position)
		if r.Name == "api.created" {
			seen.Store(r.StreamID, true)
			seenCount.Add(1)
		}
	})

	const writers, perWriter = 16, 500
	ids := make(chan string, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				status, r := ts.call(t, ts.RootKey, "apis.createApi", map[string]string{"name": fmt.Sprintf("w%d-%d", w, i)})
				if status != 200 {
					t.Errorf("writer %d call %d: status %d %+v", w, i, status, r.Error)
					return
				}
				var out struct {
					APIID string `json:"apiId"`
				}
				_ = json.Unmarshal(r.Data, &out)
				ids <- out.APIID
			}
		}()
	}
	wg.Wait()
	close(ids)
	if t.Failed() {
		t.FailNow()
	}

	var count int
	if err := ts.Server.Store.DB().Primary.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM apis WHERE deleted_at IS NULL").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != writers*perWriter {
		t.Fatalf("read model holds %d apis, want %d", count, writers*perWriter)
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return seenCount.Load() == writers*perWriter, fmt.Sprintf("tailer saw %d of %d api.created events", seenCount.Load(), writers*perWriter)
	})
	for id := range ids {
		if _, ok := seen.Load(events.APIStreamID(id)); !ok {
			t.Fatalf("tailer never saw %s", id)
		}
	}
	if outOfOrder.Load() != 0 {
		t.Fatalf("tailer saw %d events out of position order", outOfOrder.Load())
	}

	// Replay rebuilds read models identical to the live ones.
	before := dumpReadModels(t, ts.Server.Store.DB().Primary)
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	n, err := admin.Replay(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n < writers*perWriter {
		t.Fatalf("replay went through %d events, want at least %d", n, writers*perWriter)
	}
	assertSameRows(t, before, dumpReadModels(t, ts.Server.Store.DB().Primary))
}

// With a read replica configured, reads go to the replica and fall back to
// the primary when the replica has no row yet. The "replica" here is a
// second database that keyline set up but that never receives the writes:
// the most extreme lag there is.
func TestReadsFallBackFromLaggingReplica(t *testing.T) {
	replicaURL := testenv.FreshPostgresDatabase(t)
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), &configs.Config{Database: configs.Database{Primary: replicaURL}}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Replay(context.Background(), nil, nil); err != nil { // creates the read-model tables, empty
		t.Fatal(err)
	}
	cleanup()

	cfg := postgresConfig(t)
	cfg.Database.ReadonlyReplica = replicaURL
	ts := startServer(t, cfg)
	id := ts.createAPI(t, ts.RootKey, "read through the fallback")
	var got struct{ ID, Name string }
	ts.must(t, ts.RootKey, "apis.getApi", map[string]string{"apiId": id}, &got)
	if got.ID != id || got.Name != "read through the fallback" {
		t.Fatalf("getApi = %+v", got)
	}
	var onReplica int
	if err := ts.Server.Store.DB().Replica.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM apis").Scan(&onReplica); err != nil {
		t.Fatal(err)
	}
	if onReplica != 0 {
		t.Fatalf("the replica stand-in holds %d apis; the test needs it empty", onReplica)
	}
}
