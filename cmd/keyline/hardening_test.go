package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/testenv"
)

// procStatusKB reads a "Name:  123 kB" line of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, name string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s line %q: %v", name, line, err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}

// slowUpload opens a connection announcing a 10 MiB body and trickles it,
// 1 KiB every 200 ms, until the server closes the connection; closed is
// signalled once the server did.
func slowUpload(t *testing.T, addr string, stop <-chan struct{}) (closed <-chan struct{}, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	head := "POST /v2/keys.verifyKey HTTP/1.1\r\nHost: keyline\r\nContent-Type: application/json\r\n" +
		"Content-Length: 10485760\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		conn.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes (or resets) the connection
		close(done)
	}()
	go func() {
		defer conn.Close()
		chunk := bytes.Repeat([]byte{' '}, 1024)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-stop:
				return
			case <-tick.C:
				_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = conn.Write(chunk)
			}
		}
	}()
	return done, nil
}

// 600 unauthenticated connections announcing 10 MiB bodies
// and trickling them (three rounds of 200) cost the server little memory,
// are closed by the server's read timeout, and do not stop liveness and
// verifyKey from answering meanwhile. Before the fix every such connection
// made the server allocate the announced 10 MiB and none was ever closed.
func TestSlowUploadsAreClosedAndCostLittleMemory(t *testing.T) {
	const (
		rounds, perRound = 3, 200
		readTimeout      = 2 * time.Second
		rssLimitKB       = 300 << 10
	)
	port := testenv.FreePort(t)
	root := "kl_root_test_" + handlers.NewID("k")
	config := writeConfig(t, map[string]any{"httpPort": port, "httpHost": "127.0.0.1",
		"database":  map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")},
		"bootstrap": map[string]any{"rootKey": root},
		"server": map[string]any{"readHeaderTimeoutMs": 1000, "readTimeoutMs": readTimeout.Milliseconds(),
			"writeTimeoutMs": 5000, "idleTimeoutMs": 5000},
	})
	p, ts := startFromConfig(t, config, port)
	ts.RootKey = root
	pid := p.cmd.Process.Pid
	api := ts.createAPI(t, root, "slow-uploads")
	_, key := ts.createKey(t, root, map[string]any{"apiId": api})
	verifyBody, _ := json.Marshal(map[string]string{"key": key})
	quick := &http.Client{Timeout: 5 * time.Second}

	// probe checks that liveness and verifyKey answer promptly.
	probe := func() error {
		resp, err := quick.Get(ts.URL + "/v2/liveness")
		if err != nil {
			return fmt.Errorf("liveness: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("liveness: status %d", resp.StatusCode)
		}
		ts.RootKey = root
		code, err := verifyCode(quick, ts, verifyBody)
		if err != nil || code != "VALID" {
			return fmt.Errorf("verifyKey: %q, %v", code, err)
		}
		return nil
	}
	startKB := procStatusKB(t, pid, "VmRSS")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	stop := make(chan struct{})
	defer close(stop)
	probes := 0
	for round := 1; round <= rounds; round++ {
		started := time.Now()
		var open atomic.Int64
		var wg sync.WaitGroup
		for range perRound {
			closed, err := slowUpload(t, addr, stop)
			if err != nil {
				t.Fatalf("round %d: connecting: %v", round, err)
			}
			open.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); <-closed; open.Add(-1) }()
		}
		allClosed := make(chan struct{})
		go func() { wg.Wait(); close(allClosed) }()
		deadline := time.After(readTimeout + 10*time.Second)
	wait:
		for {
			select {
			case <-allClosed:
				break wait
			case <-deadline:
				t.Fatalf("round %d: %d of %d slow uploads still open %s after they started (read timeout %s)",
					round, open.Load(), perRound, time.Since(started).Round(time.Millisecond), readTimeout)
			case <-time.After(250 * time.Millisecond):
				if rss := procStatusKB(t, pid, "VmRSS"); rss > rssLimitKB {
					t.Fatalf("round %d: server RSS %d MB with %d slow uploads open (limit %d MB)",
						round, rss>>10, open.Load(), rssLimitKB>>10)
				}
				if err := probe(); err != nil {
					t.Fatalf("round %d, %d slow uploads open: %v", round, open.Load(), err)
				}
				probes++
			}
		}
		if took := time.Since(started); took < readTimeout {
			t.Fatalf("round %d: uploads closed after %s, before the read timeout: something else closed them", round, took)
		}
	}
	peakKB := procStatusKB(t, pid, "VmHWM")
	t.Logf("RSS before %d MB, peak %d MB; %d probes answered during the attack", startKB>>10, peakKB>>10, probes)
	if peakKB > rssLimitKB {
		t.Fatalf("peak RSS %d MB, over %d MB", peakKB>>10, rssLimitKB>>10)
	}
	if probes < rounds {
		t.Fatalf("only %d probes during the attack", probes)
	}
	if err := probe(); err != nil {
		t.Fatalf("after the attack: %v", err)
	}
}

// rawExchange sends one raw request line to addr and reads the answer.
func rawExchange(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: keyline\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.60q: no answer: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Regression: "POST /v2/liveness%00" made bunrouter panic before keyline's
// middleware: the connection dropped without an answer.
func TestHostilePathsGetAnAnswer(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	addr := strings.TrimPrefix(ts.URL, "http://")
	cases := []struct {
		target string
		status int
	}{
		{"/v2/liveness%00", 404},
		{"/v2/keys.verifyKey%00", 404},
		{"/v2/keys.ver%00ifyKey", 404},
		{"/v2/liveness%0d%0a", 404},
		{"/v2/liveness%7f", 404},
		{"/v2/liveness\x00", 400}, // raw control bytes: net/http refuses the request line
		{"/v2/liveness\x01", 400},
		{"/v2/" + strings.Repeat("a", 32<<10), 404},
		{"/v2/" + strings.Repeat("a", 32<<10) + "%00", 404},
		{"/v2/" + strings.Repeat("a", 80<<10), 431}, // over server.maxHeaderBytes (64 KiB)
	}
	for _, tc := range cases {
		status, body := rawExchange(t, addr, http.MethodPost, tc.target)
		if status != tc.status {
			t.Errorf("POST %.60q (%d bytes): %d %.80q, want %d", tc.target, len(tc.target), status, body, tc.status)
		}
		if tc.status == 404 && body != "404 page not found\n" {
			t.Errorf("POST %.60q: body %q, want the plain 404", tc.target, body)
		}
	}
	// The server is still up and answering.
	if status, _ := ts.get(t, "/v2/liveness"); status != 200 {
		t.Fatalf("liveness after hostile paths: %d", status)
	}
}

// `keyline run` without --config (the embedded default, which
// prints an all-powerful root key) listens on loopback only; a config file
// binds every interface unless httpHost says otherwise.
func TestEmbeddedDefaultListensOnLoopbackOnly(t *testing.T) {
	cfg, err := loadConfig("") // what `keyline run` without --config runs on
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database.Primary = "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
	ts := startServer(t, cfg)
	host, _, _ := net.SplitHostPort(ts.Server.HTTP.Addr().String())
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("the embedded default listens on %s, want loopback only", ts.Server.HTTP.Addr())
	}

	// Tests stay on loopback, so the file case is checked on the config: an
	// empty host is what binds every interface (net.JoinHostPort("", port)).
	fromFile := writeConfig(t, map[string]any{"httpPort": 7070,
		"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")}})
	if cfg, err = loadConfig(fromFile); err != nil || cfg.HTTPHost != "" {
		t.Fatalf("a config file without httpHost: host %q, %v; want every interface", cfg.HTTPHost, err)
	}
}

// With tls configured the API answers HTTPS only, and a key
// verifies over it.
func TestAPIOverTLS(t *testing.T) {
	cert := testenv.SelfSignedCert(t, "api")
	port := testenv.FreePort(t)
	root := "kl_root_test_" + handlers.NewID("k")
	config := writeConfig(t, map[string]any{"httpPort": port, "httpHost": "127.0.0.1",
		"database":  map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")},
		"bootstrap": map[string]any{"rootKey": root},
		"tls":       map[string]any{"certFile": cert.CertFile, "keyFile": cert.KeyFile},
	})
	p := startProc(t, "run", "--config", config)
	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool(), MinVersion: tls.VersionTLS12}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		select {
		case <-p.done:
			_, errs := p.output()
			t.Fatalf("keyline exited early: %v\n%s", p.err, errs)
		default:
		}
		resp, err := https.Get(base + "/v2/liveness")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("liveness answered %d", resp.StatusCode)
	})
	ts := &testServer{URL: base, RootKey: root}
	post := func(op string, in any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(in)
		req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+op, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+root)
		req.Header.Set("Content-Type", "application/json")
		resp, err := https.Do(req)
		if err != nil {
			t.Fatalf("%s over HTTPS: %v", op, err)
		}
		defer resp.Body.Close()
		var out struct{ Data map[string]any }
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("%s over HTTPS: %d %s", op, resp.StatusCode, b)
		}
		return out.Data
	}
	api := post("apis.createApi", map[string]any{"name": "tls"})["apiId"].(string)
	key := post("keys.createKey", map[string]any{"apiId": api})["key"].(string)
	if got := post("keys.verifyKey", map[string]any{"key": key}); got["valid"] != true || got["code"] != "VALID" {
		t.Fatalf("verifyKey over HTTPS: %v", got)
	}
	code, err := verifyCode(https, ts, []byte(`{"key":"`+key+`"}`))
	if err != nil || code != "VALID" {
		t.Fatalf("verifyKey over HTTPS: %q, %v", code, err)
	}

	// Plain HTTP on the same port gets no API answer.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/v2/liveness", port))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain HTTP on the TLS port answered 200: %s", b)
		}
	}
	// A client that does not trust the certificate is refused.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/v2/liveness"); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusting client: %v, want a certificate error", err)
	}
}
