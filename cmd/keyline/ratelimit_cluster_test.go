package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
)

// Three keyline processes sharing PostgreSQL and Redis, 200
// concurrent clients spread over them, one identifier at 1000 per minute:
// exactly 1000 admitted. The namespace is auto-created by all three nodes at
// once on the first requests and converges on one.
func TestRatelimitAccuracyAcrossProcesses(t *testing.T) {
	db := testenv.FreshPostgresDatabase(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefixAt(t, redisURL)
	rootKey := "kl_root_cluster_" + fmt.Sprint(time.Now().UnixNano())
	var servers []*testServer
	for range 3 {
		port := testenv.FreePort(t)
		config := writeConfig(t, map[string]any{
			"httpPort":  port,
			"database":  map[string]any{"primary": db},
			"redis":     map[string]any{"url": redisURL, "keyPrefix": prefix},
			"bootstrap": map[string]any{"rootKey": rootKey},
		})
		_, ts := startFromConfig(t, config, port)
		ts.RootKey = rootKey
		servers = append(servers, ts)
	}
	exactlyOnce(t, servers, rootKey, 200, 2000, 1000,
		map[string]any{"namespace": "cluster.accuracy", "limit": 1000, "duration": 600000, "cost": 1})

	status, r := servers[0].call(t, rootKey, "ratelimit.listOverrides", map[string]any{"namespace": "cluster.accuracy"})
	if status != 200 {
		t.Fatalf("the auto-created namespace is not readable: %d %+v", status, r.Error)
	}
	pg := pgCount(t, db, "SELECT COUNT(*) FROM events WHERE name = 'ratelimit_namespace.created'")
	rows := pgCount(t, db, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name = 'cluster.accuracy'")
	if pg != 1 || rows != 1 {
		t.Fatalf("concurrent auto-creation left %d creation events and %d namespaces, want 1 and 1", pg, rows)
	}
}

func pgCount(t *testing.T, url, query string) int {
	t.Helper()
	db, cleanup, err := sqlstore.Open(context.Background(), configs.Database{Primary: url})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var n int
	if err := db.Primary.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Redis stops mid-run. Both nodes keep answering 200 (they
// decide on local memory, failing open), and once Redis is back on the same
// port decisions are shared and exact again, without restarting keyline.
func TestRatelimitRedisOutage(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := testenv.RedisPrefixAt(t, srv.URL)
	cfg := postgresConfig(t)
	cfg.Redis = &configs.Redis{URL: srv.URL, KeyPrefix: prefix}
	a := startServer(t, cfg)
	cfgB := *cfg
	cfgB.Redis = &configs.Redis{URL: srv.URL, KeyPrefix: prefix}
	cfgB.Bootstrap = &configs.Bootstrap{RootKey: a.RootKey}
	b := startServer(t, &cfgB)
	servers := []*testServer{a, b}
	key := a.RootKey
	body := map[string]any{"namespace": "outage", "limit": 10, "duration": 60000, "cost": 1}

	exactlyOnce(t, servers, key, 4, 40, 10, body)

	srv.Stop()
	// Long enough for each node to retry Redis several times (it pauses
	// 250 ms after a failure) and keep falling back.
	for i, start := 0, time.Now(); time.Since(start) < time.Second; i++ {
		d := servers[i%2].limit(t, key, map[string]any{"namespace": "outage", "identifier": "during", "limit": 100000, "duration": 60000})
		if !d.Success {
			t.Fatalf("request %d during the outage was denied: %+v", i, d)
		}
	}

	srv.Start()
	opts, _ := redis.ParseURL(srv.URL)
	client := redis.NewClient(opts)
	defer client.Close()
	// Each node is back on Redis once its probe's counter shows up there.
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for i, s := range servers {
			probe := fmt.Sprintf("probe-%d", i)
			s.limit(t, key, map[string]any{"namespace": "outage", "identifier": probe, "limit": 1000, "duration": 60000})
			keys, err := client.Keys(context.Background(), prefix+"*"+probe+"*").Result()
			if err != nil || len(keys) == 0 {
				return false, fmt.Sprintf("node %d not back on Redis yet (%v)", i, err)
			}
		}
		return true, ""
	})
	exactlyOnce(t, servers, key, 4, 40, 10, body)
}

// The node-local catalog follows changes made on other nodes through the
// log: an override set on A applies on B, and a namespace deleted on A is
// gone on B, within a poll of the log.
func TestRatelimitCatalogFollowsOtherNodes(t *testing.T) {
	cfg := postgresConfig(t)
	a := startServer(t, cfg)
	cfgB := *cfg
	cfgB.Bootstrap = &configs.Bootstrap{RootKey: a.RootKey}
	b := startServer(t, &cfgB)
	key := a.RootKey
	body := map[string]any{"namespace": "shared", "identifier": "vip", "limit": 10, "duration": 60000}
	b.limit(t, key, body) // B caches the namespace without overrides

	var set struct{ OverrideID string }
	a.must(t, key, "ratelimit.setOverride", map[string]any{"namespace": "shared", "identifier": "vip", "limit": 99, "duration": 60000}, &set)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		d := b.limit(t, key, body)
		return d.OverrideID == set.OverrideID && d.Limit == 99, fmt.Sprintf("B still answers %+v", d)
	})

	id := events.RatelimitNamespaceIDFor(events.WorkspaceIDForName("default"), "shared")
	if _, err := a.Server.Store.Append(context.Background(), events.RatelimitNamespaceStreamID(id), 1, events.Metadata{},
		events.RatelimitNamespaceDeleted{NamespaceID: id, WorkspaceID: events.WorkspaceIDForName("default")}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		status, r := b.call(t, key, "ratelimit.limit", body)
		return status == 410, fmt.Sprintf("B answers %d %s", status, strings.TrimSpace(string(r.Data)))
	})
}
