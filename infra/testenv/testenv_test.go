package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	generatedName = regexp.MustCompile(`^keyline_test_[0-9a-f]{16}$`)
	generatedDB   = regexp.MustCompile(`^keyline_test_[0-9a-z]+_[0-9a-f]{16}$`)
)

func dbName(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// connect opens a single connection, so that session state is predictable.
func connect(t *testing.T, connURL string) *sql.Conn {
	t.Helper()
	db, err := sql.Open("pgx", connURL)
	if err != nil {
		t.Fatalf("open %s: %v", connURL, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("connect %s: %v", connURL, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestFreshPostgresDatabase(t *testing.T) {
	ctx := context.Background()
	var created []string

	t.Run("isolated database", func(t *testing.T) {
		first := FreshPostgresDatabase(t)
		name := dbName(t, first)
		if !generatedDB.MatchString(name) {
			t.Fatalf("database name %q does not look like keyline_test_<time>_<hex>", name)
		}
		base, _ := url.Parse(PostgresURL(t))
		got, _ := url.Parse(first)
		if got.Host != base.Host || got.User.String() != base.User.String() || got.RawQuery != base.RawQuery {
			t.Fatalf("fresh URL %q does not keep host/user/params of %q", first, base)
		}

		conn := connect(t, first)
		var current string
		if err := conn.QueryRowContext(ctx, "select current_database()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != name {
			t.Fatalf("connected to %q, want %q", current, name)
		}
		if _, err := conn.ExecContext(ctx, "create table widgets (id int primary key, label text not null)"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "insert into widgets values (1, 'one'), (2, 'two')"); err != nil {
			t.Fatal(err)
		}
		var count int
		var label string
		if err := conn.QueryRowContext(ctx, "select count(*), max(label) filter (where id = 2) from widgets").Scan(&count, &label); err != nil {
			t.Fatal(err)
		}
		if count != 2 || label != "two" {
			t.Fatalf("read back count=%d label=%q, want 2 and \"two\"", count, label)
		}

		// A second database in the same test is a different, empty one.
		second := FreshPostgresDatabase(t)
		if dbName(t, second) == name {
			t.Fatalf("two fresh databases share the name %q", name)
		}
		var table *string
		if err := connect(t, second).QueryRowContext(ctx, "select to_regclass('widgets')::text").Scan(&table); err != nil {
			t.Fatal(err)
		}
		if table != nil {
			t.Fatalf("table widgets leaked into the second database")
		}
		created = []string{name, dbName(t, second)}
		// The connections stay open on purpose: DROP ... WITH (FORCE) must
		// still remove the databases.
	})

	if len(created) != 2 {
		t.Fatal("subtest did not create the databases")
	}
	var left int
	err := connect(t, PostgresURL(t)).QueryRowContext(ctx,
		"select count(*) from pg_database where datname = any($1)", created).Scan(&left)
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d of the databases %v survived the test's cleanup", left, created)
	}
}

func redisConn(t *testing.T) *respConn {
	t.Helper()
	c, err := dialRedis(RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func redisDo(t *testing.T, c *respConn, args ...string) any {
	t.Helper()
	reply, err := c.Do(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return reply
}

func TestRedisPrefixCleanup(t *testing.T) {
	c := redisConn(t)
	var prefix string
	t.Run("uses prefix", func(t *testing.T) {
		prefix = RedisPrefix(t)
		if !generatedName.MatchString(strings.TrimSuffix(prefix, ":")) || !strings.HasSuffix(prefix, ":") {
			t.Fatalf("prefix %q does not look like keyline_test_<hex>:", prefix)
		}
		redisDo(t, c, "SET", prefix+"a", "1")
		redisDo(t, c, "XADD", prefix+"stream", "*", "k", "v")
		if n := redisDo(t, c, "EXISTS", prefix+"a", prefix+"stream"); n != int64(2) {
			t.Fatalf("EXISTS = %v before cleanup, want 2", n)
		}
	})
	if n := redisDo(t, c, "EXISTS", prefix+"a", prefix+"stream"); n != int64(0) {
		t.Fatalf("EXISTS = %v after the subtest's cleanup, want 0", n)
	}
}

func TestDeleteRedisPrefix(t *testing.T) {
	c := redisConn(t)
	prefix := RedisPrefix(t)

	// More keys than one SCAN batch, so the cursor loop is exercised.
	const n = 2500
	mset := []string{"MSET"}
	for i := range n {
		mset = append(mset, fmt.Sprintf("%sk%d", prefix, i), "v")
	}
	redisDo(t, c, mset...)

	// Keys that must survive: a sibling without the ':' and a key whose name
	// would match if the prefix's glob characters were not escaped.
	bare := strings.TrimSuffix(prefix, ":")
	outside := []string{bare + "x", bare + "[x]:1"}
	globby := bare + "[x]:"
	redisDo(t, c, "SET", outside[0], "keep")
	redisDo(t, c, "SET", outside[1], "keep")
	redisDo(t, c, "SET", bare+"x:1", "keep") // matches the unescaped glob "…[x]:*"
	t.Cleanup(func() { _, _ = c.Do("DEL", outside[0], outside[1], bare+"x:1") })

	if err := deleteRedisPrefix(RedisURL(t), prefix); err != nil {
		t.Fatal(err)
	}
	sample := []string{"EXISTS", prefix + "k0", prefix + "k1234", prefix + fmt.Sprintf("k%d", n-1)}
	if got := redisDo(t, c, sample...); got != int64(0) {
		t.Fatalf("EXISTS on deleted keys = %v, want 0", got)
	}
	reply := redisDo(t, c, "SCAN", "0", "MATCH", globEscape(prefix)+"*", "COUNT", "100000")
	if keys := reply.([]any)[1].([]any); len(keys) != 0 {
		t.Fatalf("%d keys under %s survived, e.g. %v", len(keys), prefix, keys[0])
	}
	if got := redisDo(t, c, "EXISTS", outside[0], outside[1]); got != int64(2) {
		t.Fatalf("EXISTS on keys outside the prefix = %v, want 2", got)
	}

	if err := deleteRedisPrefix(RedisURL(t), globby); err != nil {
		t.Fatal(err)
	}
	if got := redisDo(t, c, "EXISTS", outside[1]); got != int64(0) {
		t.Fatalf("key %q under prefix %q was not deleted", outside[1], globby)
	}
	if got := redisDo(t, c, "EXISTS", bare+"x:1"); got != int64(1) {
		t.Fatalf("prefix %q was treated as a glob and deleted %q", globby, bare+"x:1")
	}
}

// fatalRecorder stands in for a testing.TB to observe Fatalf without failing
// the real test. Like the real one it ends the calling goroutine.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runRecorded runs fn on its own goroutine (Fatalf ends it) and returns what
// it recorded.
func runRecorded(t *testing.T, fn func(tb testing.TB)) *fatalRecorder {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(rec)
	}()
	<-done
	return rec
}

func TestEventually(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		calls := 0
		start := time.Now()
		Eventually(t, 5*time.Second, func() (bool, string) {
			calls++
			return calls == 3, fmt.Sprintf("calls=%d", calls)
		})
		if calls != 3 {
			t.Fatalf("condition called %d times, want exactly 3", calls)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Fatalf("took %v for three 10 ms polls", elapsed)
		}
	})

	t.Run("fails with the last message after the timeout", func(t *testing.T) {
		const timeout = 80 * time.Millisecond
		calls := 0
		start := time.Now()
		rec := runRecorded(t, func(tb testing.TB) {
			Eventually(tb, timeout, func() (bool, string) {
				calls++
				return false, fmt.Sprintf("attempt %d", calls)
			})
		})
		elapsed := time.Since(start)
		if !rec.failed {
			t.Fatal("Eventually did not fail")
		}
		if elapsed < timeout {
			t.Fatalf("failed after %v, before the %v timeout", elapsed, timeout)
		}
		if calls < 2 {
			t.Fatalf("condition polled %d times, want several", calls)
		}
		if want := fmt.Sprintf("attempt %d", calls); !strings.HasSuffix(rec.msg, want) {
			t.Fatalf("message %q does not end with the last condition message %q", rec.msg, want)
		}
	})
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("cannot listen on the returned port: %v", err)
	}
	_ = l.Close()
}

func TestUnreachableServiceFailsInsteadOfSkipping(t *testing.T) {
	port := FreePort(t) // nothing listens there
	cases := []struct {
		env string
		url string
		get func(testing.TB) string
	}{
		{PostgresURLEnv, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test", port), PostgresURL},
		{RedisURLEnv, fmt.Sprintf("redis://127.0.0.1:%d/0", port), RedisURL},
		{PostgresURLEnv, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test", port), FreshPostgresDatabase},
		{RedisURLEnv, fmt.Sprintf("redis://127.0.0.1:%d/0", port), RedisPrefix},
	}
	for _, tc := range cases {
		t.Setenv(tc.env, tc.url)
		rec := runRecorded(t, func(tb testing.TB) { tc.get(tb) })
		if !rec.failed {
			t.Fatalf("%s=%s: no failure", tc.env, tc.url)
		}
		if !strings.Contains(rec.msg, "make test") || !strings.Contains(rec.msg, tc.env) {
			t.Fatalf("failure message %q should point at `make test` and %s", rec.msg, tc.env)
		}
	}
}
