package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyline/keyline/configs"
)

// pgbenchScript is the baseline's transaction: one single-row INSERT, the
// least a durable write can cost on the server, committed by 16 clients
// as createKey is.
const pgbenchScript = "INSERT INTO klbench_pgbench (note) VALUES ('klbench');\n"

// pgbenchRate runs pgbench on dbURL with conns clients for d (one
// single-row INSERT per transaction) and returns its transactions per
// second. The table is created here and left in the database, which the
// run drops.
func pgbenchRate(bin, dbURL string, conns int, d time.Duration) (float64, error) {
	if err := pgExec(dbURL, "CREATE TABLE IF NOT EXISTS klbench_pgbench (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL)"); err != nil {
		return 0, fmt.Errorf("creating the pgbench table: %w", err)
	}
	dir, err := os.MkdirTemp("", "klbench-pgbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o600); err != nil {
		return 0, err
	}
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	ctx, cancel := context.WithTimeout(context.Background(), d+adminTimeout)
	defer cancel()
	// -j 2: the machine's cores; -n: no vacuum of pgbench's own tables,
	// which this script does not use.
	cmd := exec.CommandContext(ctx, bin, "-n", "-c", strconv.Itoa(conns), "-j", "2", "-T", strconv.Itoa(secs), "-f", script, dbURL)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return parsePgbenchTPS(out.String())
}

// parsePgbenchTPS reads "tps = 5375.123456 (without initial connection
// time)" from pgbench's report (PostgreSQL 15; older versions print
// "excluding connections establishing" instead, also accepted).
func parsePgbenchTPS(report string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "tps = ")
		if !ok || strings.Contains(line, "including connections") {
			continue
		}
		field, _, _ := strings.Cut(rest, " ")
		tps, err := strconv.ParseFloat(field, 64)
		if err != nil {
			return 0, fmt.Errorf("pgbench tps %q: %w", field, err)
		}
		return tps, nil
	}
	return 0, fmt.Errorf("no tps line in pgbench's report: %q", report)
}

// createKeyResult is one createKey phase and, on PostgreSQL, the commit
// rate pgbench reached on the same database in the same run.
type createKeyResult struct {
	row        row
	pgbenchTPS float64 // 0 when pgbench did not run
}

// childCPUTime is the CPU time of this process's children that have ended:
// the load processes.
func childCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// createKeyPhase starts a server on the database edit configures, creates
// an API and measures keys.createKey into it.
func createKeyPhase(ctx context.Context, name string, edit func(*configs.Config), measure func(target) (row, error)) (row, error) {
	s, err := startKeyline(ctx, edit)
	if err != nil {
		return row{}, err
	}
	defer s.stop()
	api, err := s.newAPI("klbench")
	if err != nil {
		return row{}, err
	}
	before, cpu, loadCPU := s.srv.Store.AppendStats(), cpuTime(), childCPUTime()
	r, err := measure(target{Name: name, URL: s.base + "/v2/keys.createKey",
		Body: `{"apiId":"` + api + `"}`, Auth: "Bearer " + rootKey, Want: `"keyId"`})
	if err != nil {
		return r, err
	}
	// What the server did for the phase (the load runs in its own process):
	// the group sizes the group commit reached and the CPU time each
	// createKey cost, which on a shared machine says more than req/s.
	cpu, loadCPU = cpuTime()-cpu, childCPUTime()-loadCPU
	after := s.srv.Store.AppendStats()
	commits, appends := after.Commits-before.Commits, after.Appends-before.Appends
	if n := r.peak.Requests + r.half.Requests; n > 0 && commits > 0 {
		fmt.Printf("  %s: %.1f appends per commit (%d in %d, %d of them on a guessed head, %d wrong guesses); CPU per createKey (warm-up included): server %.0f µs, load processes %.0f µs\n",
			name, float64(appends)/float64(commits), appends, commits, after.Guessed-before.Guessed, after.WrongGuesses-before.WrongGuesses,
			float64(cpu.Microseconds())/float64(n), float64(loadCPU.Microseconds())/float64(n))
	}
	return r, nil
}
