package testenv

import (
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cpuLoadEnv, set in the environment of a test binary, turns it into a CPU
// burner (see BurnCPUIfChild): "<threads>,<duration>".
const cpuLoadEnv = "KEYLINE_TEST_CPU_LOAD"

// BurnCPUIfChild must be the first call in the TestMain of a package that
// uses LoadCPU. In the child process LoadCPU starts it keeps the CPU busy
// and exits, never returning; in a normal run it returns at once.
func BurnCPUIfChild() {
	spec := os.Getenv(cpuLoadEnv)
	if spec == "" {
		return
	}
	n, dur, _ := strings.Cut(spec, ",")
	threads, _ := strconv.Atoi(n)
	d, _ := time.ParseDuration(dur)
	if threads < 1 || d <= 0 {
		os.Exit(2)
	}
	// One busy OS thread per goroutine, like as many `yes` processes.
	runtime.GOMAXPROCS(threads)
	for range threads {
		go func() {
			var x uint64
			for {
				x++
			}
		}()
	}
	// The parent holds the other end of stdin: its end closing (cleanup,
	// or the parent killed) stops the burner, and so does the time bound,
	// so an interrupted test run leaves nothing spinning.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_, _ = os.Stdout.WriteString("burning\n")
	time.Sleep(d)
	os.Exit(0)
}

// LoadCPU starts a child process (this test binary again, see
// BurnCPUIfChild) that keeps threads OS threads busy for at most d, waits
// until it spins and stops it in t.Cleanup. It is for tests of behaviour
// that must hold on a saturated machine: timeouts, failure detection.
// Cleanup fails the test if the child hardly ran, since the test would
// then have proven nothing about load.
func LoadCPU(t testing.TB, threads int, d time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cpuLoadEnv+"="+strconv.Itoa(threads)+","+d.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testenv: cpu load: %v", err)
	}
	spinning := make(chan struct{})
	cmd.Stdout = &firstWrite{ch: spinning}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: cpu load: starting %s: %v", os.Args[0], err)
	}
	started := time.Now()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		wall := time.Since(started)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		t.Logf("testenv: cpu load: %d threads ran %v of CPU in %v", threads, cpu.Round(time.Millisecond), wall.Round(time.Millisecond))
		if cpu < wall/10 {
			t.Errorf("testenv: cpu load: the burner used %v of CPU in %v: the machine was not loaded", cpu, wall)
		}
	})
	select {
	case <-spinning:
	case <-time.After(30 * time.Second):
		t.Fatal("testenv: cpu load: the child did not start within 30 s; does TestMain call testenv.BurnCPUIfChild?")
	}
}

// firstWrite closes ch when the burner's one line arrives (a test binary
// that is no burner prints other things).
type firstWrite struct {
	ch   chan struct{}
	once sync.Once
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "burning") {
		w.once.Do(func() { close(w.ch) })
	}
	return len(p), nil
}
