// Command klbench measures keyline's ratelimit.limit on loopback against the
// cheapest possible HTTP server, so the numbers say what keyline costs on
// top of net/http on the machine at hand rather than an absolute rate that
// depends on it.
//
// One run starts a bare net/http handler returning a fixed JSON body and
// keyline servers in this process (memory counters, and Redis counters when
// -redis is reachable), then for each target:
//
//   - closed loop: -c connections send back to back for -d; req/s, p50, p99;
//   - open loop at half that peak rate: p99 latency measured from each
//     request's scheduled send time, so a stall is not hidden by the client
//     waiting for it (coordinated omission);
//
// on one identifier (one hot counter) and on 100k distinct identifiers. It
// ends with the heap of the memory limiter holding 1M distinct identifiers,
// before and after its janitor. Traffic stays on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/ratelimit"
)

func main() {
	conns := flag.Int("c", 16, "concurrent connections")
	duration := flag.Duration("d", 5*time.Second, "length of each phase")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis for the Redis-backed phases (empty to skip)")
	flag.Parse()
	if err := run(*conns, *duration, *redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "klbench:", err)
		os.Exit(1)
	}
}

const rootKey = "kl_root_klbench_0123456789"

type target struct {
	name string
	url  string
	body func(i int) []byte
	auth string
}

func run(conns int, d time.Duration, redisURL string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Printf("klbench: %d connections, %s per phase, GOMAXPROCS=%d, %s\n\n", conns, d, runtime.GOMAXPROCS(0), runtime.Version())

	bareURL, stopBare, err := startBare()
	if err != nil {
		return err
	}
	defer stopBare()

	tmp, err := os.MkdirTemp("", "klbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	memURL, err := startKeyline(ctx, filepath.Join(tmp, "mem.db"), nil)
	if err != nil {
		return err
	}
	var redisKL string
	if redisURL != "" {
		prefix := fmt.Sprintf("klbench:%d:", time.Now().UnixNano())
		defer func() {
			// Proof the Redis phases really decided in Redis rather than
			// on the local fallback: their counters are there.
			fmt.Printf("redis counter keys written under %s: %d (deleted now)\n", prefix, cleanRedis(redisURL, prefix))
		}()
		redisKL, err = startKeyline(ctx, filepath.Join(tmp, "redis.db"), &configs.Redis{URL: redisURL, KeyPrefix: prefix})
		if err != nil {
			return err
		}
	}

	limitBody := func(identifier func(i int) string) func(i int) []byte {
		return func(i int) []byte {
			return []byte(`{"namespace":"bench","identifier":"` + identifier(i) + `","limit":1000000000,"duration":60000}`)
		}
	}
	one := limitBody(func(int) string { return "hot" })
	distinct := limitBody(func(i int) string { return "user_" + strconv.Itoa(i%100_000) })
	targets := []target{{name: "bare net/http, fixed JSON", url: bareURL, body: func(int) []byte { return []byte(`{}`) }}}
	add := func(backend, base string) {
		targets = append(targets,
			target{name: "ratelimit.limit " + backend + ", 1 identifier", url: base + "/v2/ratelimit.limit", body: one, auth: "Bearer " + rootKey},
			target{name: "ratelimit.limit " + backend + ", 100k identifiers", url: base + "/v2/ratelimit.limit", body: distinct, auth: "Bearer " + rootKey})
	}
	add("memory", memURL)
	if redisKL != "" {
		add("redis", redisKL)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2}, Timeout: 10 * time.Second}
	fmt.Printf("%-42s %10s %8s %8s %8s %14s\n", "target", "req/s", "ratio", "p50 ms", "p99 ms", "p99@50% ms")
	var bare float64
	for _, tg := range targets {
		// Warm up: connections, caches, the namespace's auto-creation.
		if _, err := load(client, tg, conns, 300*time.Millisecond, 0); err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
		peak, err := load(client, tg, conns, d, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
		half, err := load(client, tg, conns, d, peak.rps/2)
		if err != nil {
			return fmt.Errorf("%s at half peak: %w", tg.name, err)
		}
		if bare == 0 {
			bare = peak.rps
		}
		fmt.Printf("%-42s %10.0f %7.2fx %8.2f %8.2f %14.2f\n", tg.name, peak.rps, peak.rps/bare, ms(peak.p50), ms(peak.p99), ms(half.p99))
	}

	fmt.Println()
	heapOfMillion()
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type result struct {
	rps      float64
	p50, p99 time.Duration
}

// load runs tg for d over conns connections. With rate 0 each connection
// sends back to back; otherwise requests are scheduled at rate per second in
// total and latency counts from the scheduled time.
func load(client *http.Client, tg target, conns int, d time.Duration, rate float64) (result, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var interval time.Duration
			next := start
			if rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(conns) / rate)
				next = start.Add(time.Duration(w) * interval / time.Duration(conns))
			}
			for i := w; ; i += conns {
				if rate > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
				}
				sent := time.Now()
				if rate > 0 {
					sent = next
					next = next.Add(interval)
				}
				if sent.After(deadline) {
					break
				}
				if err := post(client, tg, tg.body(i)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(sent))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no request completed")
	}
	slices.Sort(latencies)
	elapsed := time.Since(start)
	return result{
		rps: float64(len(latencies)) / elapsed.Seconds(),
		p50: latencies[len(latencies)/2],
		p99: latencies[len(latencies)*99/100],
	}, nil
}

func post(client *http.Client, tg target, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, tg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tg.auth != "" {
		req.Header.Set("Authorization", tg.auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// startBare serves a fixed JSON body the size of a ratelimit.limit answer.
func startBare() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte(`{"meta":{"requestId":"req_0123456789"},"data":{"success":true,"limit":1000000000,"remaining":999999999,"reset":1700000060000}}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// startKeyline runs keyline in this process on a free loopback port, on its
// own SQLite file, until ctx ends.
func startKeyline(ctx context.Context, dbPath string, rc *configs.Redis) (string, error) {
	cfg := configs.Default()
	cfg.HTTPPort = 0
	cfg.Database.Primary = "sqlite:" + dbPath
	cfg.Bootstrap = &configs.Bootstrap{RootKey: rootKey}
	cfg.Redis = rc
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, cleanup, err := keyline.InitializeServer(ctx, cfg, logger, io.Discard)
	if err != nil {
		return "", err
	}
	go func() {
		_ = srv.Run(ctx)
		cleanup()
	}()
	_, port, _ := net.SplitHostPort(srv.HTTP.Addr().String())
	base := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/v2/liveness"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, nil
			}
		}
	}
	return "", fmt.Errorf("keyline on %s did not come up", base)
}

// cleanRedis deletes every key under prefix and returns how many there were.
func cleanRedis(url, prefix string) int {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return 0
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx := context.Background()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	n := 0
	for iter.Next(ctx) {
		n++
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			client.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		client.Del(ctx, keys...)
	}
	return n
}

// heapOfMillion reports what a million distinct identifiers cost the memory
// limiter, and what is left once their windows are over and the janitor ran.
func heapOfMillion() {
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	m := ratelimit.NewMemory()
	now := time.UnixMilli(1_700_000_000_000)
	before := heap()
	checks := make([]handlers.RateLimitCheck, 1)
	for i := range 1_000_000 {
		checks[0] = handlers.RateLimitCheck{Key: "rlns_0123456789abcdef:user_" + strconv.Itoa(i), Limit: 100, Duration: 10 * time.Second, Cost: 1}
		_, _ = m.Decide(context.Background(), now, checks)
	}
	full := heap()
	m.Sweep(now.Add(20 * time.Second))
	after := heap()
	fmt.Printf("memory limiter heap: %.1f MiB with 1M live identifiers (%.0f B each), %.1f MiB after the janitor (was %.1f MiB empty)\n",
		full-before, (full-before)*(1<<20)/1e6, after, before)
	runtime.KeepAlive(m)
}
