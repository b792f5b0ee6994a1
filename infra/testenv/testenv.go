package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	// Registers the "pgx" database/sql driver here, so the helpers do not
	// depend on the calling package having imported it.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Environment variables naming the test services, and their defaults (the
// services that our dev and CI machines run).
const (
	PostgresURLEnv     = "KEYLINE_TEST_POSTGRES_URL"
	RedisURLEnv        = "KEYLINE_TEST_REDIS_URL"
	ClickHouseURLEnv   = "KEYLINE_TEST_CLICKHOUSE_URL"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	// DefaultClickHouseURL speaks the native protocol: HTTP does not work
	// with the driver against Debian's ClickHouse 18.16.
	DefaultClickHouseURL = "clickhouse://127.0.0.1:9000/default"
)

const (
	// dialTimeout bounds the reachability probe: a local service answers in
	// microseconds, so 2 s only matters when something is badly wrong.
	dialTimeout = 2 * time.Second
	// adminTimeout bounds CREATE/DROP DATABASE and the Redis cleanup, so a
	// wedged server fails the test instead of hanging the binary until the
	// global -timeout.
	adminTimeout = 30 * time.Second
	// namePrefix marks everything this package creates, so leftovers of a
	// crashed test binary are recognisable (and safe to drop by hand).
	namePrefix = "keyline_test_"
)

// PostgresURL returns the URL of the test PostgreSQL server
// (KEYLINE_TEST_POSTGRES_URL, or DefaultPostgresURL). It fails the test when
// nothing listens there.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return serviceURL(t, "PostgreSQL", PostgresURLEnv, DefaultPostgresURL, "5432")
}

// RedisURL returns the URL of the test Redis server (KEYLINE_TEST_REDIS_URL,
// or DefaultRedisURL). It fails the test when nothing listens there.
func RedisURL(t testing.TB) string {
	t.Helper()
	return serviceURL(t, "Redis", RedisURLEnv, DefaultRedisURL, "6379")
}

// ClickHouseURL returns the URL of the test ClickHouse server
// (KEYLINE_TEST_CLICKHOUSE_URL, or DefaultClickHouseURL). It fails the test
// when nothing listens there.
func ClickHouseURL(t testing.TB) string {
	t.Helper()
	return serviceURL(t, "ClickHouse", ClickHouseURLEnv, DefaultClickHouseURL, "9000")
}

// FreshClickHouseDatabase creates an empty database keyline_test_<time>_<hex> on
// the test ClickHouse server and returns the URL pointing at it; the
// database is dropped when the test ends.
func FreshClickHouseDatabase(t testing.TB) string {
	t.Helper()
	base := ClickHouseURL(t)
	sweepClickHouse(base)
	name := databaseName(time.Now())
	if err := chAdminExec(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create ClickHouse database %s: %v", name, err)
		return ""
	}
	t.Cleanup(func() {
		// A drop that outlasts dropTimeout (background merges on a saturated
		// machine) is not the test's failure: the database is timestamped,
		// and the sweep of a later test process drops it.
		if err := chExec(base, "DROP DATABASE IF EXISTS "+name, dropTimeout); err != nil {
			t.Logf("testenv: ClickHouse database %s left for a later sweep: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
		return ""
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func chAdminExec(connURL, stmt string) error { return chExec(connURL, stmt, adminTimeout) }

func chExec(connURL, stmt string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts, err := clickhouse.ParseDSN(connURL)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, stmt)
}

func serviceURL(t testing.TB, name, env, def, defaultPort string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("testenv: %s=%q is not a URL: %v", env, raw, err)
		return ""
	}
	addr := hostPort(u, defaultPort)
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		// Fail, never skip: see the package documentation.
		t.Fatalf("testenv: %s is not reachable at %s (%s): %v\n"+
			"\trun the tests with `make test`, which starts PostgreSQL and Redis "+
			"(infra/testenv/ensure-services.sh), or set %s to a running server",
			name, addr, u.Redacted(), err, env)
		return ""
	}
	_ = conn.Close()
	return raw
}

func hostPort(u *url.URL, defaultPort string) string {
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(host, port)
}

// FreshPostgresDatabase creates an empty database named keyline_test_<time>_<hex> on
// the test server and returns its URL (same host, user and parameters as
// PostgresURL). The database is dropped WITH (FORCE) when the test ends, so
// connections the test forgot to close do not block the drop.
func FreshPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	sweepPostgres(base)
	name := databaseName(time.Now())

	if err := pgAdminExec(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
		return ""
	}
	t.Cleanup(func() {
		if err := pgAdminExec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil { // PostgresURL already parsed it.
		t.Fatalf("testenv: %v", err)
		return ""
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// pgAdminExec runs one statement on a short-lived connection. A new pool per
// call keeps no idle admin connection per test around, and works inside
// t.Cleanup, where the test's context is already cancelled.
func pgAdminExec(connURL, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	db, err := sql.Open("pgx", connURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// RedisPrefix returns a unique key prefix "keyline_test_<hex>:" for the test
// to put all its Redis keys (and stream names) under. Every key matching the
// prefix is deleted when the test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	redisURL := RedisURL(t)
	prefix := namePrefix + randomHex(8) + ":"
	t.Cleanup(func() {
		if err := deleteRedisPrefix(redisURL, prefix); err != nil {
			t.Errorf("testenv: delete Redis keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Eventually calls cond every 10 ms until it reports true, and fails the test
// with cond's last message if that has not happened within timeout. cond is
// always called at least once. Use it instead of sleeping for asynchronous
// effects: it returns as soon as the effect is there.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("testenv: condition not met within %v: %s", timeout, msg)
			return
		}
		<-tick.C
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a
// server under test to listen on. (The port is released before returning, so
// a server that can take an existing listener should be given one instead.)
func FreePort(t testing.TB) int {
	t.Helper()
	// The kernel may hand the same ephemeral port out again as soon as it is
	// closed, so a test asking for several ports (three nodes, each with an
	// HTTP, RPC and gossip port) could get one twice. Ports already given out
	// by this process are skipped.
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: find a free port: %v", err)
			return 0
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatalf("testenv: no fresh free port after 100 tries")
	return 0
}

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

// randomHex returns 2n random hex digits. Random rather than derived from
// t.Name(): names repeat across -count runs and parallel packages, and
// database names are limited to 63 bytes.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (it crashes instead).
	return hex.EncodeToString(b)
}

// globEscape quotes the characters that Redis' MATCH treats specially, so a
// prefix matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// deleteRedisPrefix deletes every key that starts with prefix, using SCAN
// (never KEYS, which blocks the server) and DEL per batch.
func deleteRedisPrefix(redisURL, prefix string) error {
	c, err := dialRedis(redisURL)
	if err != nil {
		return err
	}
	defer c.Close()
	pattern := globEscape(prefix) + "*"
	cursor := "0"
	for {
		reply, err := c.Do("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			return err
		}
		parts, ok := reply.([]any)
		if !ok || len(parts) != 2 {
			return fmt.Errorf("unexpected SCAN reply %#v", reply)
		}
		next, ok1 := parts[0].(string)
		keys, ok2 := parts[1].([]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("unexpected SCAN reply %#v", reply)
		}
		if len(keys) > 0 {
			args := make([]string, 0, len(keys)+1)
			args = append(args, "DEL")
			for _, k := range keys {
				s, ok := k.(string)
				if !ok {
					return fmt.Errorf("unexpected key %#v in SCAN reply", k)
				}
				args = append(args, s)
			}
			if _, err := c.Do(args...); err != nil {
				return err
			}
		}
		// Deleting while scanning is fine: SCAN still returns every key that
		// existed for the whole iteration.
		if next == "0" {
			return nil
		}
		cursor = next
	}
}
