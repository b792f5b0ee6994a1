package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func reachable(t testing.TB, raw, what string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s URL %q: %v", what, raw, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%v); run `make test`, which starts it", what, u.Host, err)
	}
	_ = conn.Close()
}

// PostgresURL returns the test server's URL and fails the test when the
// server is unreachable.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KEYLINE_TEST_POSTGRES_URL")
	if u == "" {
		u = defaultPostgresURL
	}
	reachable(t, u, "PostgreSQL")
	return u
}

// FreshPostgresDatabase creates a database of its own for the test and
// drops it when the test ends.
func FreshPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "keyline_test_" + randomHex(6)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// RedisURL returns the test Redis URL and fails the test when it is unreachable.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KEYLINE_TEST_REDIS_URL")
	if u == "" {
		u = defaultRedisURL
	}
	reachable(t, u, "Redis")
	return u
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, strings.TrimSpace(msg))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
