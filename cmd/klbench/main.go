// Command klbench is keyline's loopback load benchmark (`make bench`). It
// measures keyline against the cheapest possible HTTP server in the same
// run, so the numbers say what keyline costs on top of net/http on the
// machine at hand rather than an absolute rate that depends on it.
//
// One run starts, in this process and on 127.0.0.1 only, a bare net/http
// handler returning fixed JSON bodies and keyline servers, then measures:
//
//   - ratelimit.limit with memory and Redis counters, on one identifier and
//     on 100k identifiers (against the bare handler);
//   - keys.verifyKey of a cached valid key with the analytics stream off (no
//     Redis: records go to the local analytics_log store in SQLite, the
//     embedded default) and on (Redis configured,
//     analytics.* defaults), against a bare handler answering a
//     verifyKey-shaped body (issues 3 and 6);
//   - keys.createKey on PostgreSQL, next to pgbench's commit rate of
//     single-row INSERT transactions on the same database (same clients),
//     and keys.createKey on SQLite;
//   - analytics ingest end to end: records emitted through a server's sink
//     until ClickHouse holds them.
//
// Every HTTP phase is a closed loop (-c connections back to back for -d:
// req/s, p50, p99) and then an open loop at half that peak rate (p99
// measured from each request's scheduled send time, so a stall is not
// hidden by the client waiting for it: coordinated omission). The run ends
// with the heap of the memory limiter holding 1M identifiers, and a summary
// of the issues' targets against what was measured.
//
// Each phase is bounded in time and the run stops by itself. A phase whose
// service is not wanted is skipped with -redis ”, -postgres ” or
// -clickhouse ”; databases and Redis keys the run creates are removed at
// the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/ratelimit"
	klruntime "github.com/keyline/keyline/infra/runtime"
)

type options struct {
	conns                   int
	d                       time.Duration
	redisURL, pgURL, chURL  string
	ingestFor, drainMax     time.Duration
	emitters, ingestBatch   int
	insertBatch             int
	ingestProfile           string
	cpuProfile              string
	trace                   string
	skipRatelimit, skipHeap bool
	phases                  string
	pgbench                 string
	// ratioRounds is how many rounds of the ratios phase run (0 skips it);
	// onlyRatios runs that phase alone.
	ratioRounds   int
	onlyRatios    bool
	replayEvents  int
	replayRounds  int
	onlyReplay    bool
	replayProfile string
	// createKeyProfile is where the closed-loop createKey phases write a
	// CPU profile (DB in the name becomes SQLite or PostgreSQL).
	createKeyProfile string
}

// phaseNames are the values -phases accepts.
var phaseNames = []string{"ratelimit", "verify", "createkey", "createkey-sqlite", "ingest", "heap", "ratios", "replay"}

// wants reports whether phase is among o.phases ("all" or a comma list).
func (o options) wants(phase string) bool {
	for _, p := range strings.Split(o.phases, ",") {
		if p = strings.TrimSpace(p); p == "all" || p == phase {
			return true
		}
	}
	return false
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == loadProcessFlag {
		runLoadProcess()
		return
	}
	var o options
	flag.IntVar(&o.conns, "c", 16, "concurrent connections")
	flag.DurationVar(&o.d, "d", 5*time.Second, "length of each closed-loop and each half-peak phase")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis for the Redis counters and the analytics stream (empty skips those phases)")
	flag.StringVar(&o.pgURL, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for createKey; a fresh database is created and dropped (empty skips)")
	flag.StringVar(&o.chURL, "clickhouse", "clickhouse://127.0.0.1:9000/default", "ClickHouse server for analytics ingest; a fresh database is created and dropped (empty skips; needs -redis)")
	flag.DurationVar(&o.ingestFor, "ingest-d", 10*time.Second, "how long records are emitted in the analytics ingest phase")
	flag.DurationVar(&o.drainMax, "ingest-drain", 60*time.Second, "longest wait, after the last emission, for ClickHouse to hold every record")
	flag.IntVar(&o.emitters, "ingest-emitters", 4, "goroutines emitting analytics records")
	flag.IntVar(&o.ingestBatch, "ingest-batch", 0, "analytics.batchSize (the sink's stream batch) of the ingest server (0: the default, 100)")
	flag.IntVar(&o.insertBatch, "ingest-insert-batch", 0, "analytics.insertBatchSize (the projector's ClickHouse insert) of the ingest server (0: the default); ClickHouse pays per insert, so this bounds the rate")
	flag.StringVar(&o.ingestProfile, "ingest-cpuprofile", "", "write a CPU profile of the analytics ingest phase (emitters, sink, projector) to this file")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the closed-loop verifyKey phase with analytics on to this file")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace (go tool trace) of the half-peak verifyKey phase with analytics on to this file")
	flag.BoolVar(&o.skipRatelimit, "skip-ratelimit", false, "skip the ratelimit.limit phases")
	flag.BoolVar(&o.skipHeap, "skip-heap", false, "skip the 1M-identifier heap measurement")
	flag.StringVar(&o.phases, "phases", "all", "comma-separated phases to run: "+strings.Join(phaseNames, ", ")+
		" (createkey is PostgreSQL, with pgbench on the same database); all runs every one")
	flag.StringVar(&o.pgbench, "pgbench", "pgbench", "the pgbench binary for the PostgreSQL commit-rate baseline of the createkey phase (empty skips the baseline)")
	flag.IntVar(&o.ratioRounds, "ratio-rounds", 1, "rounds of the ratios phase (verifyKey and ratelimit.limit over the bare handler, embedded default next to Redis mode, klbench loader and wrk alternating); 0 skips it")
	flag.BoolVar(&o.onlyRatios, "only-ratios", false, "run only the ratios phase")
	flag.IntVar(&o.replayEvents, "replay-events", 1_000_000, "events in the generated log the replay phase rebuilds from (0 skips the phase)")
	flag.IntVar(&o.replayRounds, "replay-rounds", 1, "replays of the generated log on each database, alternating; the median rate is judged")
	flag.StringVar(&o.replayProfile, "replay-cpuprofile", "", "write a CPU profile of each database's replay to this file (DB in the name becomes SQLite or PostgreSQL)")
	flag.StringVar(&o.createKeyProfile, "createkey-cpuprofile", "", "write a CPU profile of each closed-loop createKey phase to this file (DB in the name becomes SQLite or PostgreSQL)")
	flag.BoolVar(&o.onlyReplay, "only-replay", false, "run the replay phase alone")
	flag.Parse()
	for _, p := range strings.Split(o.phases, ",") {
		if p = strings.TrimSpace(p); p != "all" && !slices.Contains(phaseNames, p) {
			fmt.Fprintf(os.Stderr, "klbench: unknown phase %q (known: all, %s)\n", p, strings.Join(phaseNames, ", "))
			os.Exit(2)
		}
	}
	o.skipRatelimit = o.skipRatelimit || !o.wants("ratelimit")
	o.skipHeap = o.skipHeap || !o.wants("heap")
	if o.onlyRatios {
		if err := runRatios(context.Background(), o, max(o.ratioRounds, 1)); err != nil {
			fmt.Fprintln(os.Stderr, "klbench:", err)
			os.Exit(1)
		}
		return
	}
	runner := run
	if o.onlyReplay {
		runner = replayAlone
	}
	if err := runner(o); err != nil {
		fmt.Fprintln(os.Stderr, "klbench:", err)
		os.Exit(1)
	}
}

const rootKey = "kl_root_klbench_0123456789"

// row is one line of the results table.
type row struct {
	name       string
	target     target
	peak, half result
	ratio      float64 // to the bare handler of the same shape; 0 when none applies
}

func run(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The servers run in this process: give them the collector target
	// `keyline run` gives itself.
	gcPercent := klruntime.TuneGC()
	fmt.Printf("klbench: %d connections, %s per phase, GOMAXPROCS=%d, GOGC=%d, %s, load average at start: %s\n\n",
		o.conns, o.d, runtime.GOMAXPROCS(0), gcPercent, runtime.Version(), loadavg())

	fmt.Println(stalls(2 * time.Second))
	fmt.Println()

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

	// The rate-limit and verifyKey phases share these two servers. Analytics
	// stream off: no Redis, so records go to the embedded default's local
	// store (the analytics_log table in SQLite).
	needServers := !o.skipRatelimit || o.wants("verify")
	var mem *server
	if needServers {
		if mem, err = startKeyline(ctx, func(c *configs.Config) { c.Database.Primary = "sqlite:" + filepath.Join(tmp, "mem.db") }); err != nil {
			return err
		}
		defer mem.stop()
	}
	var red *server
	if o.redisURL != "" && needServers {
		prefix := fmt.Sprintf("klbench:%s:", randomHex(6))
		counters := prefix + "rl:"
		defer func() {
			// Proof the Redis phases really decided in Redis rather than
			// on the local fallback: their counters are there.
			fmt.Printf("redis: %d counter keys under %s (everything under %s deleted now)\n", cleanRedis(o.redisURL, prefix, counters), counters, prefix)
		}()
		// Analytics on: verifications go to the stream <prefix>keyline.analytics.
		red, err = startKeyline(ctx, func(c *configs.Config) {
			c.Database.Primary = "sqlite:" + filepath.Join(tmp, "redis.db")
			c.Redis = &configs.Redis{URL: o.redisURL, KeyPrefix: counters, StreamPrefix: prefix}
		})
		if err != nil {
			return err
		}
		defer red.stop()
	}

	measure := func(tg target, bare float64, profile, traceFile string) (row, error) {
		// Warm up: caches, the namespace's auto-creation.
		if _, err := load(loadSpec{Target: tg, Conns: o.conns, Duration: 300 * time.Millisecond}); err != nil {
			return row{}, fmt.Errorf("%s: %w", tg.Name, err)
		}
		stopProfile, err := capture(profile, pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return row{}, err
		}
		peak, err := load(loadSpec{Target: tg, Conns: o.conns, Duration: o.d})
		stopProfile()
		if err != nil {
			return row{}, fmt.Errorf("%s: %w", tg.Name, err)
		}
		stopTrace, err := capture(traceFile, trace.Start, trace.Stop)
		if err != nil {
			return row{}, err
		}
		half, err := load(loadSpec{Target: tg, Conns: o.conns, Duration: o.d, Rate: peak.RPS / 2})
		stopTrace()
		if err != nil {
			return row{}, fmt.Errorf("%s at half peak: %w", tg.Name, err)
		}
		r := row{name: tg.Name, target: tg, peak: peak, half: half}
		if bare > 0 {
			r.ratio = peak.RPS / bare
		}
		printRow(r)
		return r, nil
	}
	printHeader()

	if !o.skipRatelimit {
		limitBody := func(identifier string) string {
			return `{"namespace":"bench","identifier":"` + identifier + `","limit":1000000000,"duration":60000}`
		}
		bare, err := measure(target{Name: "bare net/http, ratelimit-shaped JSON", URL: bareURL + "/limit", Body: `{}`}, 0, "", "")
		if err != nil {
			return err
		}
		backends := []*server{mem}
		if red != nil {
			backends = append(backends, red)
		}
		for i, s := range backends {
			backend := []string{"memory", "redis"}[i]
			for _, tg := range []target{
				{Name: "ratelimit.limit " + backend + ", 1 identifier", URL: s.base + "/v2/ratelimit.limit", Body: limitBody("hot"), Auth: "Bearer " + rootKey},
				{Name: "ratelimit.limit " + backend + ", 100k identifiers", URL: s.base + "/v2/ratelimit.limit", Body: limitBody("user_{i}"), Distinct: 100_000, Auth: "Bearer " + rootKey},
			} {
				if _, err := measure(tg, bare.peak.RPS, "", ""); err != nil {
					return err
				}
			}
		}
	}

	// keys.verifyKey of one cached, valid, unlimited key.
	var off, on row
	var floor result
	var onDropped int64
	if o.wants("verify") {
		if off, on, floor, onDropped, err = verifyPhases(o, bareURL, mem, red, measure); err != nil {
			return err
		}
	}
	// The rate-limit servers are done: stop them so that their background
	// work does not share the cores with the phases below.
	if mem != nil {
		mem.stop()
	}
	if red != nil {
		red.stop()
	}

	// keys.createKey on PostgreSQL, next to pgbench's commit rate on the
	// same database, and on SQLite (the embedded default).
	var createPG, createSQLite createKeyResult
	measureCreate := func(db string) func(target) (row, error) {
		return func(tg target) (row, error) {
			return measure(tg, 0, strings.ReplaceAll(o.createKeyProfile, "DB", db), "")
		}
	}
	if o.pgURL != "" && o.wants("createkey") {
		pgDB, dropPG, err := freshPostgres(o.pgURL)
		if err != nil {
			return err
		}
		defer func() {
			if err := dropPG(); err != nil {
				fmt.Fprintln(os.Stderr, "klbench: dropping the PostgreSQL database:", err)
			}
		}()
		if o.pgbench != "" {
			tps, err := pgbenchRate(o.pgbench, pgDB, o.conns, o.d)
			if err != nil {
				return err
			}
			createPG.pgbenchTPS = tps
			fmt.Printf("%-44s %10.0f %s\n", fmt.Sprintf("pgbench, %d clients, 1-row INSERT/tx", o.conns), tps, "       -")
		}
		if createPG.row, err = createKeyPhase(ctx, "createKey, PostgreSQL", func(c *configs.Config) { c.Database.Primary = pgDB }, measureCreate("PostgreSQL")); err != nil {
			return err
		}
		if createPG.pgbenchTPS > 0 {
			fmt.Printf("  createKey/s on PostgreSQL / pgbench's commit rate on the same database: %.3f\n", createPG.row.peak.RPS/createPG.pgbenchTPS)
		}
	}
	if o.wants("createkey-sqlite") {
		if createSQLite.row, err = createKeyPhase(ctx, "createKey, SQLite", func(c *configs.Config) {
			c.Database.Primary = "sqlite:" + filepath.Join(tmp, "create.db")
		}, measureCreate("SQLite")); err != nil {
			return err
		}
	}
	// Analytics ingest: sink → Redis stream → projector → ClickHouse.
	var ing *ingestResult
	if o.chURL != "" && o.redisURL != "" && o.wants("ingest") {
		chDB, dropCH, err := freshClickHouse(o.chURL)
		if err != nil {
			return err
		}
		defer func() {
			if err := dropCH(); err != nil {
				fmt.Fprintln(os.Stderr, "klbench: dropping the ClickHouse database:", err)
			}
		}()
		prefix := fmt.Sprintf("klbench:%s:", randomHex(6))
		defer cleanRedis(o.redisURL, prefix, prefix)
		s, err := startKeyline(ctx, func(c *configs.Config) {
			c.Database.Primary = "sqlite:" + filepath.Join(tmp, "ingest.db")
			c.Redis = &configs.Redis{URL: o.redisURL, KeyPrefix: prefix + "rl:", StreamPrefix: prefix}
			c.ClickHouse = &configs.ClickHouse{URL: chDB}
			if o.ingestBatch > 0 {
				c.Analytics.BatchSize = o.ingestBatch
			}
			if o.insertBatch > 0 {
				c.Analytics.InsertBatchSize = o.insertBatch
			}
		})
		if err != nil {
			return err
		}
		stopProfile, err := capture(o.ingestProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			s.stop()
			return err
		}
		r, err := ingest(ctx, s, chDB, o.emitters, o.ingestFor, o.drainMax)
		stopProfile()
		s.stop()
		if err != nil {
			return fmt.Errorf("analytics ingest: %w", err)
		}
		ing = &r
		an := s.srv.Config.Analytics
		fmt.Printf("\nanalytics ingest (analytics.batchSize %d, insertBatchSize %d, insertFlushIntervalMs %d, retention %d, other analytics.* defaults; %d emitters, at most %d records not yet in ClickHouse):\n"+
			"  %d records emitted in %.1f s (%.0f/s), %d dropped; %d rows in ClickHouse %.2f s after the first emission: %.0f records/s end to end\n",
			an.BatchSize, an.InsertBatchSize, an.InsertFlushIntervalMs, an.Retention, o.emitters, r.window,
			r.emitted, r.emitFor.Seconds(), r.emitRate, r.dropped, r.landed, r.total.Seconds(), r.e2eRate)
	} else if o.chURL != "" && o.wants("ingest") {
		fmt.Println("\nanalytics ingest skipped: it needs -redis (the stream) as well as -clickhouse")
	}

	if !o.skipHeap {
		fmt.Println()
		heapOfMillion()
	}

	if o.ratioRounds > 0 && o.wants("ratios") {
		if err := runRatios(ctx, o, o.ratioRounds); err != nil {
			return err
		}
	}

	// The summary: the issues' targets against this run.
	fmt.Printf("\nsummary (load average at end: %s)\n", loadavg())
	fmt.Printf("%-58s %-14s %-22s %s\n", "target", "wanted", "measured", "")
	check := func(name, wanted, measured string, ok, measuredAtAll bool) {
		verdict := "PASS"
		if !measuredAtAll {
			verdict, measured = "SKIPPED", "-"
		} else if !ok {
			verdict = "MISS"
		}
		fmt.Printf("%-58s %-14s %-22s %s\n", name, wanted, measured, verdict)
	}
	haveOn := red != nil && o.wants("verify")
	check("verifyKey (analytics on) / bare req/s", ">= 0.60", fmt.Sprintf("%.2f", on.ratio), on.ratio >= 0.6, haveOn)
	check("verifyKey (analytics on) p99 at half peak", "< 2 ms", fmt.Sprintf("%.2f ms", ms(on.half.P99)), on.half.P99 < 2*time.Millisecond, haveOn)
	if haveOn {
		fmt.Printf("%-58s %-14s %-22s %s\n", "  the bare handler paced at that rate (the harness's floor)", "-",
			fmt.Sprintf("%.2f ms", ms(floor.P99)), map[bool]string{true: "(the floor itself misses 2 ms here)", false: ""}[floor.P99 >= 2*time.Millisecond])
	}
	onOff := 0.0
	if off.peak.RPS > 0 {
		onOff = on.peak.RPS / off.peak.RPS
	}
	check("verifyKey analytics on / off req/s", ">= 0.90", fmt.Sprintf("%.2f", onOff), onOff >= 0.9, haveOn)
	check("analytics ingest, emission to ClickHouse rows", ">= 50000/s", rateOf(ing), ing != nil && ing.e2eRate >= 50_000, ing != nil)
	havePG := createPG.row.peak.Requests > 0
	pgRatio := 0.0
	if createPG.pgbenchTPS > 0 {
		pgRatio = createPG.row.peak.RPS / createPG.pgbenchTPS
	}
	check("createKey/s on PostgreSQL / pgbench 1-row INSERT tx/s", ">= 0.33",
		fmt.Sprintf("%.3f (%.0f / %.0f)", pgRatio, createPG.row.peak.RPS, createPG.pgbenchTPS), pgRatio >= 0.33, havePG && createPG.pgbenchTPS > 0)
	check("createKey on PostgreSQL p99 (16 connections)", "< 50 ms", fmt.Sprintf("%.2f ms", ms(createPG.row.peak.P99)),
		createPG.row.peak.P99 < 50*time.Millisecond, havePG)
	haveSQLite := createSQLite.row.peak.Requests > 0
	check("createKey on SQLite req/s", ">= 3000/s", fmt.Sprintf("%.0f/s", createSQLite.row.peak.RPS), createSQLite.row.peak.RPS >= 3000, haveSQLite)
	check("createKey on SQLite p99 (16 connections)", "< 50 ms", fmt.Sprintf("%.2f ms", ms(createSQLite.row.peak.P99)),
		createSQLite.row.peak.P99 < 50*time.Millisecond, haveSQLite)
	if haveOn && onDropped > 0 {
		fmt.Printf("note: %d analytics records were dropped during the analytics-on phase; the on/off ratio is then optimistic\n", onDropped)
	}
	if o.replayEvents > 0 && o.wants("replay") {
		fmt.Println()
		return runReplay(ctx, tmp, o.pgURL, o.replayEvents, max(1, o.replayRounds), o.replayProfile)
	}
	return nil
}

// verifyPhases measures keys.verifyKey of one cached, valid, unlimited key
// with the analytics stream off (mem) and on (red, when Redis is there),
// against the bare handler, and then the bare handler paced at the
// analytics-on phase's half-peak rate (the harness's floor).
func verifyPhases(o options, bareURL string, mem, red *server, measure func(target, float64, string, string) (row, error)) (off, on row, floor result, onDropped int64, err error) {
	var onPublished int64
	bareVerify, err := measure(target{Name: "bare net/http, verifyKey-shaped JSON", URL: bareURL + "/verify", Body: `{}`}, 0, "", "")
	if err != nil {
		return off, on, floor, onDropped, err
	}
	verifyTarget := func(s *server, name string) (target, error) {
		api, err := s.newAPI("klbench")
		if err != nil {
			return target{}, err
		}
		key, err := s.validKey(api)
		if err != nil {
			return target{}, err
		}
		return target{Name: name, URL: s.base + "/v2/keys.verifyKey", Body: `{"key":"` + key + `"}`,
			Auth: "Bearer " + rootKey, Want: `"valid":true`}, nil
	}
	tgOff, err := verifyTarget(mem, "verifyKey, analytics off")
	if err != nil {
		return off, on, floor, onDropped, err
	}
	off, err = measure(tgOff, bareVerify.peak.RPS, "", "")
	if err != nil {
		return off, on, floor, onDropped, err
	}
	// The servers share this process: the one measured next should not
	// share its collector and cores with an idle one that still holds the
	// memory phases' 100k identifiers.
	mem.stop()
	if red != nil {
		tgOn, err := verifyTarget(red, "verifyKey, analytics on (Redis stream)")
		if err != nil {
			return off, on, floor, onDropped, err
		}
		sink := red.srv.Analytics.Sink
		pub0, drop0 := sink.Published(), sink.Dropped()
		if on, err = measure(tgOn, bareVerify.peak.RPS, o.cpuProfile, o.trace); err != nil {
			return off, on, floor, onDropped, err
		}
		// Records of the last moments are still in the sink's buffer:
		// give it one flush interval and a little more to publish them.
		time.Sleep(time.Duration(configs.DefaultAnalyticsFlushMs+500) * time.Millisecond)
		onPublished, onDropped = sink.Published()-pub0, sink.Dropped()-drop0
		fmt.Printf("  analytics on: %d records reached the stream during the verifyKey phases, %d dropped\n", onPublished, onDropped)
		// The harness's floor: the bare handler paced at the very rate
		// keyline's half-peak phase ran at. No server answers a paced
		// load faster than this on this machine.
		if floor, err = load(loadSpec{Target: bareVerify.target, Conns: o.conns, Duration: o.d, Rate: on.peak.RPS / 2}); err != nil {
			return off, on, floor, onDropped, fmt.Errorf("bare handler at keyline's half-peak rate: %w", err)
		}
		fmt.Printf("%-44s %10s %8s %8s %8s %11.2f %10.2f %10.2f\n", fmt.Sprintf("  bare net/http paced at %.0f req/s", on.peak.RPS/2),
			"", "", "", "", ms(floor.P99), ms(floor.SendP99), ms(floor.LateP99))
	}
	return off, on, floor, onDropped, nil
}

// capture runs start (a CPU profile, an execution trace) into file and
// returns what ends it; with file "" it does nothing.
func capture(file string, start func(io.Writer) error, stop func()) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

func rateOf(r *ingestResult) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f/s", r.e2eRate)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printHeader() {
	fmt.Printf("%-44s %10s %8s %8s %8s %11s %10s %10s\n", "phase", "req/s", "ratio", "p50 ms", "p99 ms", "p99@50% ms", "send p99", "late p99")
}

func printRow(r row) {
	ratio := "       -"
	if r.ratio > 0 {
		ratio = fmt.Sprintf("%7.2fx", r.ratio)
	}
	fmt.Printf("%-44s %10.0f %s %8.2f %8.2f %11.2f %10.2f %10.2f\n", r.name, r.peak.RPS, ratio, ms(r.peak.P50), ms(r.peak.P99),
		ms(r.half.P99), ms(r.half.SendP99), ms(r.half.LateP99))
}

// loadavg is /proc/loadavg's first three fields: whether someone else was
// using the cores matters for reading every number of the run.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	var a, b5, c string
	if _, err := fmt.Sscan(string(b), &a, &b5, &c); err != nil {
		return "unknown"
	}
	return a + " " + b5 + " " + c
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
	checks := make([]handlers.RatelimitCheck, 1)
	for i := range 1_000_000 {
		checks[0] = handlers.RatelimitCheck{Key: "rlns_0123456789abcdef:user_" + strconv.Itoa(i), Limit: 100, Duration: 10 * time.Second, Cost: 1}
		_, _ = m.Decide(context.Background(), now, checks)
	}
	full := heap()
	m.Sweep(now.Add(20 * time.Second))
	after := heap()
	fmt.Printf("memory limiter heap: %.1f MiB with 1M live identifiers (%.0f B each), %.1f MiB after the janitor (was %.1f MiB empty)\n",
		full-before, (full-before)*(1<<20)/1e6, after, before)
	runtime.KeepAlive(m)
}

// stalls measures how often the machine takes the CPU away from a thread
// that wants it: a loop reads the clock for d and counts the gaps. On a
// shared or virtual machine these gaps, not the server, can set every p99
// of the run, so the run prints them first.
func stalls(d time.Duration) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var over1ms, over2ms int
	var worst time.Duration
	start := time.Now()
	last := start
	for last.Sub(start) < d {
		now := time.Now()
		gap := now.Sub(last)
		last = now
		worst = max(worst, gap)
		if gap > time.Millisecond {
			over1ms++
		}
		if gap > 2*time.Millisecond {
			over2ms++
		}
	}
	return fmt.Sprintf("machine stalls: a thread spinning for %s lost the CPU for > 1 ms %d times (%.1f/s), > 2 ms %d times, longest %.2f ms",
		d, over1ms, float64(over1ms)/d.Seconds(), over2ms, ms(worst))
}
