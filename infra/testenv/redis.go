package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisPrefixAt returns a key prefix of the test's own on the Redis at url and
// deletes every key under it when the test ends, so tests sharing one Redis
// never see each other's counters.
func RedisPrefixAt(t testing.TB, url string) string {
	t.Helper()
	prefix := "keyline_test:" + randomHex(6) + ":"
	t.Cleanup(func() {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		client := redis.NewClient(opts)
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var cursor uint64
		for {
			keys, next, err := client.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				return
			}
			if len(keys) > 0 {
				client.Del(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return prefix
}

// ThrowawayRedis is a redis-server of the test's own, without persistence,
// that the test may stop and start again on the same port to simulate an
// outage.
type ThrowawayRedis struct {
	Port int
	URL  string
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server on a free loopback port and stops it when
// the test ends. It fails the test when the binary is not installed.
func StartRedis(t testing.TB) *ThrowawayRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: run `make test`, which installs it")
	}
	port := FreePort(t)
	r := &ThrowawayRedis{Port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), t: t}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server and waits until it accepts connections.
func (r *ThrowawayRedis) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	r.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(r.cmd)
	Eventually(r.t, 10*time.Second, func() (bool, string) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.Port), time.Second)
		if err != nil {
			return false, "redis-server not listening yet: " + err.Error()
		}
		_ = conn.Close()
		return true, ""
	})
}

// Stop kills the server and waits for it to exit. Stopping twice is harmless.
func (r *ThrowawayRedis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}
