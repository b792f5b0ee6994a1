package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyline/keyline/infra/testenv"
)

// startJSONLogged runs `keyline run` on a fresh SQLite file with the given
// logs section and returns the process, the server and the root key read
// from the first-start banner, which in JSON mode is a JSON record.
func startJSONLogged(t *testing.T, logs map[string]any, extra map[string]any) (*proc, *testServer) {
	t.Helper()
	port := testenv.FreePort(t)
	cfg := map[string]any{
		"httpHost": "127.0.0.1",
		"httpPort": port,
		"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")},
		"logs":     logs,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	p, ts := startFromConfig(t, writeConfig(t, cfg), port)
	// The banner is written before the port opens, but the pipe reader may
	// not have passed it on yet.
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		out, _ := p.output()
		for _, rec := range logRecords(t, "stdout", out) {
			if k, _ := rec["rootKey"].(string); strings.HasPrefix(k, "kl_root_") {
				ts.RootKey = k
			}
		}
		return ts.RootKey != "", "no root key record on stdout: " + out
	})
	return p, ts
}

// logRecords parses every non-empty line of s as a JSON object and fails the
// test on the first that is not one.
func logRecords(t *testing.T, stream, s string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s line %d is not a JSON object (%v): %q", stream, i+1, err, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// stopGracefully sends SIGTERM and waits for a clean exit.
func stopGracefully(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("keyline did not stop within 30 s of SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("SIGTERM: keyline exited with %v", p.err)
	}
}

func TestLogsJSONEveryLineIsJSON(t *testing.T) {
	p, ts := startJSONLogged(t, map[string]any{"format": "json"}, nil)
	apiID := ts.createAPI(t, ts.RootKey, "json-logs")
	var key struct{ Key string }
	ts.must(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": apiID}, &key)
	var verified struct{ Valid bool }
	ts.must(t, ts.RootKey, "keys.verifyKey", map[string]any{"key": key.Key}, &verified)
	if !verified.Valid {
		t.Fatal("the new key does not verify")
	}
	if status, _ := ts.raw(t, "apis.createApi", "Bearer "+ts.RootKey, []byte(`{"name":`)); status != 400 {
		t.Fatalf("malformed body: status %d, want 400", status)
	}
	if status, _ := ts.call(t, "kl_root_unknown", "apis.getApi", map[string]string{"apiId": apiID}); status != 401 {
		t.Fatalf("unknown root key: status %d, want 401", status)
	}
	if status, _ := ts.get(t, "/v2/liveness%00"); status != 404 {
		t.Fatalf("control byte in the path: status %d, want 404", status)
	}
	stopGracefully(t, p)

	out, errs := p.output()
	outRecs, errRecs := logRecords(t, "stdout", out), logRecords(t, "stderr", errs)
	if len(outRecs) != 1 || outRecs[0]["workspaceId"] == nil || outRecs[0]["level"] != "WARN" || outRecs[0]["time"] == nil {
		t.Errorf("stdout holds %d records, want exactly the root-key record with time, level and workspaceId: %v", len(outRecs), outRecs)
	}
	msgs := map[string]bool{}
	for _, rec := range errRecs {
		msg, _ := rec["msg"].(string)
		msgs[msg] = true
		if rec["time"] == nil || rec["level"] == nil {
			t.Errorf("record without time or level: %v", rec)
		}
	}
	if !msgs["keyline is serving"] {
		t.Errorf("stderr lacks the start-up record; messages: %v", msgs)
	}
}

func TestLogsLevelWarnSuppressesInfo(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			p, ts := startJSONLoggedOrText(t, format)
			ts.createAPI(t, ts.RootKey, "quiet")
			stopGracefully(t, p)
			_, errs := p.output()
			for _, want := range []string{"INFO", "DEBUG"} {
				if strings.Contains(errs, want) {
					t.Errorf("level warn wrote a %s line:\n%s", want, errs)
				}
			}
			if format == "json" {
				logRecords(t, "stderr", errs)
			}
		})
	}
	// The same start at the default level does log at info, so the check
	// above is not vacuous.
	p, _ := startJSONLogged(t, map[string]any{"format": "json"}, nil)
	stopGracefully(t, p)
	if _, errs := p.output(); !strings.Contains(errs, `"level":"INFO","msg":"keyline is serving"`) {
		t.Errorf("level info wrote no INFO start-up record:\n%s", errs)
	}
}

// startJSONLoggedOrText starts a server logging at warn in format; in text
// mode the first root key is the banner's.
func startJSONLoggedOrText(t *testing.T, format string) (*proc, *testServer) {
	t.Helper()
	if format == "json" {
		return startJSONLogged(t, map[string]any{"format": "json", "level": "warn"}, nil)
	}
	port := testenv.FreePort(t)
	p, ts := startFromConfig(t, writeConfig(t, map[string]any{
		"httpHost": "127.0.0.1",
		"httpPort": port,
		"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")},
		"logs":     map[string]any{"level": "warn"},
	}), port)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		out, _ := p.output()
		if m := rootKeyLine.FindStringSubmatch(out); m != nil {
			ts.RootKey = m[1]
		}
		return ts.RootKey != "", "no banner on stdout: " + out
	})
	return p, ts
}
