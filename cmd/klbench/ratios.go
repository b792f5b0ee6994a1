package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/keyline/keyline/configs"
)

// The ratios phase: keyline's throughput over the bare handler's, for
// verifyKey and ratelimit.limit, on `make run`'s configuration (SQLite, no
// Redis: records go to the local store) next to the Redis mode, measured
// by two loaders: klbench's own load process and wrk (Debian's package,
// `wrk -t1 -c<conns> -d<d>`). Runs alternate bare and keyline on the same
// loader so that both see the same machine; each ratio is keyline's rate
// over the mean of the bare runs just before and after it.

// ratiosProfile names the CPU profiles of the embedded default's first
// round under wrk: PREFIX-verifyKey.pprof and PREFIX-ratelimit.limit.pprof.
// Registered here rather than with the other flags so that the phase keeps
// its options in its own file.
var ratiosProfile = flag.String("ratios-cpuprofile", "", "write CPU profiles of the embedded default's first wrk round of the ratios phase to PREFIX-<operation>.pprof")

// profiled runs run under a CPU profile written to file ("" runs it bare).
func profiled(file string, run func() (float64, error)) (float64, error) {
	if file == "" {
		return run()
	}
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, err
	}
	defer pprof.StopCPUProfile()
	return run()
}

// wrkRate matches wrk's "Requests/sec:" line.
var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// findWrk returns wrk's path, installing Debian's package when it is
// missing and this process may (root); otherwise "" and why.
func findWrk() (string, string) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, ""
	}
	if os.Geteuid() != 0 {
		return "", "wrk is not installed and klbench does not run as root to install it (apt-get install -y wrk)"
	}
	fmt.Println("ratios: installing wrk (apt-get install -y wrk)")
	if out, err := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "wrk").CombinedOutput(); err != nil {
		return "", fmt.Sprintf("apt-get install -y wrk failed: %v: %s", err, lastLine(string(out)))
	}
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, ""
	}
	return "", "wrk still not found after apt-get install"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// runWrk loads tg with wrk for d over conns connections on one thread.
func runWrk(wrk string, tg target, conns int, d time.Duration, dir string) (float64, error) {
	script := filepath.Join(dir, "wrk.lua")
	lua := "wrk.method = \"POST\"\nwrk.body = [==[" + tg.Body + "]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
	if tg.Auth != "" {
		lua += "wrk.headers[\"Authorization\"] = [==[" + tg.Auth + "]==]\n"
	}
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return 0, err
	}
	out, err := exec.Command(wrk, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", script, tg.URL).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk saw error answers from %s: %s", tg.Name, out)
	}
	m := wrkRate.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("no Requests/sec in wrk's output: %s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

// ratioSet is one mode's two targets.
type ratioSet struct {
	mode          string
	srv           *server
	verify, limit target
}

// runRatios runs the phase and prints one line per loader, mode and
// operation, and whether the embedded default dropped any record.
func runRatios(ctx context.Context, o options, rounds int) error {
	tmp, err := os.MkdirTemp("", "klbench-ratios-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bareURL, stopBare, err := startBare()
	if err != nil {
		return err
	}
	defer stopBare()
	var sets []ratioSet
	add := func(mode string, edit func(*configs.Config)) error {
		s, err := startKeyline(ctx, edit)
		if err != nil {
			return err
		}
		api, err := s.newAPI("klbench")
		if err != nil {
			s.stop()
			return err
		}
		key, err := s.validKey(api)
		if err != nil {
			s.stop()
			return err
		}
		sets = append(sets, ratioSet{mode: mode, srv: s,
			verify: target{Name: "verifyKey " + mode, URL: s.base + "/v2/keys.verifyKey", Body: `{"key":"` + key + `"}`,
				Auth: "Bearer " + rootKey, Want: `"valid":true`},
			limit: target{Name: "ratelimit.limit " + mode, URL: s.base + "/v2/ratelimit.limit",
				Body: `{"namespace":"bench","identifier":"hot","limit":1000000000,"duration":60000}`, Auth: "Bearer " + rootKey}})
		return nil
	}
	// `make run`'s configuration: the defaults, SQLite, no Redis.
	if err := add("embedded (SQLite, no Redis)", func(c *configs.Config) {
		c.Database.Primary = "sqlite:" + filepath.Join(tmp, "embedded.db")
	}); err != nil {
		return err
	}
	if o.redisURL != "" {
		prefix := fmt.Sprintf("klbench:%s:", randomHex(6))
		defer cleanRedis(o.redisURL, prefix, prefix+"rl:")
		if err := add("Redis (SQLite + Redis)", func(c *configs.Config) {
			c.Database.Primary = "sqlite:" + filepath.Join(tmp, "redis.db")
			c.Redis = &configs.Redis{URL: o.redisURL, KeyPrefix: prefix + "rl:", StreamPrefix: prefix}
		}); err != nil {
			return err
		}
	}
	defer func() {
		for _, s := range sets {
			s.srv.stop()
		}
	}()

	wrk, why := findWrk()
	type loader struct {
		name string
		run  func(tg target) (float64, error)
	}
	loaders := []loader{{"klbench", func(tg target) (float64, error) {
		r, err := load(loadSpec{Target: tg, Conns: o.conns, Duration: o.d})
		return r.RPS, err
	}}}
	if wrk != "" {
		loaders = append(loaders, loader{"wrk", func(tg target) (float64, error) { return runWrk(wrk, tg, o.conns, o.d, tmp) }})
	} else {
		fmt.Printf("ratios: the wrk columns are skipped: %s\n", why)
	}
	bareVerify := target{Name: "bare verify", URL: bareURL + "/verify", Body: `{}`}
	bareLimit := target{Name: "bare limit", URL: bareURL + "/limit", Body: `{}`}

	// Warm-up: caches, the namespace's auto-creation.
	for _, s := range sets {
		for _, tg := range []target{s.verify, s.limit} {
			if _, err := load(loadSpec{Target: tg, Conns: o.conns, Duration: 300 * time.Millisecond}); err != nil {
				return fmt.Errorf("%s: %w", tg.Name, err)
			}
		}
	}
	emb := sets[0].srv.srv.Analytics.Sink
	emitted0, dropped0 := emb.Emitted(), emb.Dropped()

	// measured runs one load and reports, beside the rate, the CPU time
	// this process (the servers: the loaders are other processes) spent
	// per request meanwhile, which depends far less than the rate on what
	// else the machine runs.
	measured := func(run func() (float64, error)) (float64, float64, error) {
		cpu := cpuTime()
		rps, err := run()
		if err != nil || rps == 0 {
			return rps, 0, err
		}
		return rps, float64((cpuTime() - cpu).Microseconds()) / (rps * o.d.Seconds()), nil
	}
	fmt.Printf("\nratios to the bare handler (%d connections, %s per run, %d round(s), runs alternate bare and keyline;\n"+
		"cpu: CPU µs per request of the servers' process during the run):\n", o.conns, o.d, rounds)
	fmt.Printf("%-9s %-30s %-16s %10s %10s %7s %9s %9s\n", "loader", "mode", "operation", "req/s", "bare req/s", "ratio", "cpu", "bare cpu")
	type key struct{ loader, mode, op string }
	sum, cpuSum := map[key]float64{}, map[key]float64{}
	for round := range rounds {
		for _, l := range loaders {
			for _, op := range []string{"verifyKey", "ratelimit.limit"} {
				bare := bareVerify
				if op == "ratelimit.limit" {
					bare = bareLimit
				}
				before, beforeCPU, err := measured(func() (float64, error) { return l.run(bare) })
				if err != nil {
					return err
				}
				for i, s := range sets {
					tg := s.verify
					if op == "ratelimit.limit" {
						tg = s.limit
					}
					prof := ""
					if *ratiosProfile != "" && round == 0 && i == 0 && l.name == "wrk" {
						prof = *ratiosProfile + "-" + op + ".pprof"
					}
					rps, cpu, err := measured(func() (float64, error) { return profiled(prof, func() (float64, error) { return l.run(tg) }) })
					if err != nil {
						return err
					}
					after, afterCPU, err := measured(func() (float64, error) { return l.run(bare) })
					if err != nil {
						return err
					}
					ref, refCPU := (before+after)/2, (beforeCPU+afterCPU)/2
					before, beforeCPU = after, afterCPU
					ratio := rps / ref
					sum[key{l.name, s.mode, op}] += ratio
					cpuSum[key{l.name, s.mode, op}] += cpu
					fmt.Printf("%-9s %-30s %-16s %10.0f %10.0f %7.2f %9.1f %9.1f   (round %d)\n", l.name, s.mode, op, rps, ref, ratio, cpu, refCPU, round+1)
				}
			}
		}
	}
	// Records of the last moments are still in the sink's buffer: give it
	// one flush interval and a little more to store them.
	deadline := time.Now().Add(time.Duration(configs.DefaultAnalyticsFlushMs+2000) * time.Millisecond)
	for time.Now().Before(deadline) && emb.Published()+emb.Dropped() < emb.Emitted() {
		time.Sleep(50 * time.Millisecond)
	}
	emitted, dropped := emb.Emitted()-emitted0, emb.Dropped()-dropped0
	fmt.Printf("\nratios, mean of %d round(s):\n", rounds)
	for _, l := range loaders {
		for _, s := range sets {
			v, r := key{l.name, s.mode, "verifyKey"}, key{l.name, s.mode, "ratelimit.limit"}
			fmt.Printf("  %-9s %-30s verifyKey %.2f (cpu %.1f µs/req)   ratelimit.limit %.2f (cpu %.1f µs/req)\n", l.name, s.mode,
				sum[v]/float64(rounds), cpuSum[v]/float64(rounds), sum[r]/float64(rounds), cpuSum[r]/float64(rounds))
		}
	}
	fmt.Printf("  embedded default: %d analytics records emitted during the runs, %d dropped, %d stored\n", emitted, dropped, emb.Published())
	if wrk != "" {
		v := sum[key{"wrk", sets[0].mode, "verifyKey"}] / float64(rounds)
		r := sum[key{"wrk", sets[0].mode, "ratelimit.limit"}] / float64(rounds)
		verdict := "PASS"
		if v < 0.6 || r < 0.6 || dropped != 0 {
			verdict = "MISS"
		}
		fmt.Printf("  target: embedded default under wrk, verifyKey and ratelimit.limit >= 0.60 of bare, 0 dropped: %.2f / %.2f, %d dropped: %s\n", v, r, dropped, verdict)
	}
	if dropped != 0 {
		return errors.New("the embedded default dropped analytics records during the ratio runs")
	}
	return nil
}
