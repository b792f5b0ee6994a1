package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/testenv"
)

// verifyAs posts keys.verifyKey with root as the bearer and xff (when not
// empty) as X-Forwarded-For, through c (nil: the shared client).
func (ts *testServer) verifyAs(t *testing.T, c *http.Client, base, root, xff string, body map[string]any) (int, verification, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, base+"/v2/keys.verifyKey", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+root)
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	if c == nil {
		c = client
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("verifyKey: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("verifyKey: %d %s", resp.StatusCode, raw)
	}
	var data verification
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(r.Data, &data); err != nil {
			t.Fatalf("verifyKey: decoding %s: %v", r.Data, err)
		}
	}
	return resp.StatusCode, data, string(r.Data)
}

// cli runs a keyline command against cfg's database and decodes its JSON
// line into out.
func cli(t *testing.T, cfg *configs.Config, out any, args ...string) {
	t.Helper()
	config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
	stdout, stderr, code := runProc(t, append(args, "--config", config)...)
	if code != 0 {
		t.Fatalf("keyline %v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("keyline %v printed %q: %v", args, stdout, err)
		}
	}
}

const minimalNotFound = `{"valid":false,"code":"NOT_FOUND"}`

// verifyKey's check order, the workspace step: a disabled workspace's keys verify as FORBIDDEN, its root
// keys get 403 everywhere else, steps 7–9 still mask keys out of reach as
// NOT_FOUND, and enabling brings it all back. The switch made by the CLI
// (another process) reaches the server through the log; the same switch made
// through the server's own store is visible to the very next request.
func TestWorkspaceDisabledVerifiesForbidden(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		root := ts.RootKey
		api := ts.createAPI(t, root, "tenant api")
		keyID, key := ts.createKey(t, root, map[string]any{"apiId": api, "name": "k", "credits": map[string]any{"remaining": 5}})
		gone := ts.createAPI(t, root, "deleted api")
		_, goneKey := ts.createKey(t, root, map[string]any{"apiId": gone})
		ts.must(t, root, "apis.deleteApi", map[string]any{"apiId": gone}, nil)
		noVerify := mintRootKey(t, cfg, "default", "api.*.read_key")
		outsider := mintRootKey(t, cfg, "outsider")
		outsiderAPI := ts.createAPI(t, outsider, "outsider api")
		_, outsiderKey := ts.createKey(t, outsider, map[string]any{"apiId": outsiderAPI})
		if v := ts.verify(t, root, map[string]any{"key": key}); v.Code != "VALID" || v.credits() != 4 {
			t.Fatalf("before: %v", v)
		}
		// Polls while waiting for a change spend nothing; the checks below
		// see whether a FORBIDDEN one would have.
		free := map[string]any{"key": key, "credits": map[string]any{"cost": 0}}

		var state handlers.SetWorkspaceEnabledResult
		cli(t, cfg, &state, "workspace", "disable", "--workspace", "default")
		if state.Enabled || !state.Changed || state.Name != "default" || !strings.HasPrefix(state.WorkspaceID, "ws_") {
			t.Fatalf("disable printed %+v", state)
		}
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			v := ts.verify(t, root, free)
			return v.Code == "FORBIDDEN", fmt.Sprintf("verify answers %v", v)
		})
		// The key's data comes with it, like DISABLED's, and nothing is spent.
		if v := ts.verify(t, root, map[string]any{"key": key}); v.Valid || v.KeyID != keyID || v.Name != "k" || v.credits() != 4 {
			t.Fatalf("FORBIDDEN body: %v", v)
		}
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			status, r := ts.call(t, root, "apis.getApi", map[string]any{"apiId": api})
			return status == 403, fmt.Sprintf("getApi answers %d %+v", status, r.Error)
		})
		for _, op := range []struct {
			name string
			body map[string]any
		}{
			{"apis.getApi", map[string]any{"apiId": api}},
			{"keys.getKey", map[string]any{"keyId": keyID}},
			{"keys.createKey", map[string]any{"apiId": api}},
		} {
			status, r := ts.call(t, root, op.name, op.body)
			expectError(t, status, r, 403, "unkey/authorization/workspace_disabled")
			if r.Error.Title != "Workspace is disabled" || r.Error.Detail != "The workspace is disabled." {
				t.Fatalf("%s: %+v", op.name, r.Error)
			}
		}
		// Steps 7–9 override step 3: out of reach is NOT_FOUND, minimal.
		for name, c := range map[string]struct{ root, key string }{
			"no verify permission":          {noVerify, key},
			"another workspace's root key":  {outsider, key},
			"a key of a deleted api":        {root, goneKey},
			"another workspace's key":       {root, outsiderKey},
			"an unknown key, same root key": {root, "kl_nope_" + handlers.NewID("x")},
		} {
			if status, _, raw := ts.verifyAs(t, nil, ts.URL, c.root, "", map[string]any{"key": c.key}); status != 200 || raw != minimalNotFound {
				t.Fatalf("%s: %d %s", name, status, raw)
			}
		}
		// Other workspaces are untouched.
		if v := ts.verify(t, outsider, map[string]any{"key": outsiderKey}); v.Code != "VALID" {
			t.Fatalf("outsider's own key: %v", v)
		}
		cli(t, cfg, &state, "workspace", "disable", "--workspace", "default")
		if state.Enabled || state.Changed {
			t.Fatalf("a second disable printed %+v, want changed false", state)
		}

		cli(t, cfg, &state, "workspace", "enable", "--workspace", "default")
		if !state.Enabled || !state.Changed {
			t.Fatalf("enable printed %+v", state)
		}
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			v := ts.verify(t, root, free)
			return v.Code == "VALID", fmt.Sprintf("verify answers %v", v)
		})
		testenv.Eventually(t, 5*time.Second, func() (bool, string) {
			status, _ := ts.call(t, root, "apis.getApi", map[string]any{"apiId": api})
			return status == 200, fmt.Sprintf("getApi answers %d", status)
		})

		// Written through this server's own store: no waiting at all.
		sw := handlers.NewSetWorkspaceEnabled(ts.Server.Store)
		for _, enabled := range []bool{false, true, false} {
			if _, err := sw.Handle(context.Background(), nil, handlers.SetWorkspaceEnabledInput{Name: "default", Enabled: enabled}); err != nil {
				t.Fatal(err)
			}
			want, status := "VALID", 200
			if !enabled {
				want, status = "FORBIDDEN", 403
			}
			if v := ts.verify(t, root, free); v.Code != want {
				t.Fatalf("very next verify after enabled=%v: %v", enabled, v)
			}
			if got, r := ts.call(t, root, "apis.getApi", map[string]any{"apiId": api}); got != status {
				t.Fatalf("very next getApi after enabled=%v: %d %+v", enabled, got, r.Error)
			}
		}
		if v := ts.verify(t, root, free); v.credits() != 4 {
			t.Fatalf("only the first verification spent: credits %d, want 4", v.credits())
		}
	})
}

// verifyKey's check order, the IP allow-list step: the API's IP allow-list, with the client IP taken from
// X-Forwarded-For (first non-empty entry, port stripped) or the peer.
func TestVerifyIPAllowlist(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	root := ts.RootKey
	api := ts.createAPI(t, root, "allow-listed")
	_, key := ts.createKey(t, root, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 10}})
	_, limitedKey := ts.createKey(t, root, map[string]any{"apiId": api,
		"ratelimits": []map[string]any{{"name": "req", "limit": 1, "duration": 60000, "autoApply": true}}})
	outsider := mintRootKey(t, cfg, "outsider")

	var set handlers.SetAPIIPAllowlistResult
	cli(t, cfg, &set, "apis", "allow-ips", "--api", api, "--ips", " 2001:DB8:0::1,1.2.3.4,::ffff:1.2.3.4")
	if !set.Changed || set.APIID != api || strings.Join(set.IPs, ",") != "1.2.3.4,2001:db8::1" {
		t.Fatalf("allow-ips printed %+v", set)
	}
	verify := func(xff string, body map[string]any) verification {
		t.Helper()
		status, v, raw := ts.verifyAs(t, nil, ts.URL, root, xff, body)
		if status != 200 {
			t.Fatalf("verify from %q: %d %s", xff, status, raw)
		}
		return v
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		v := verify("9.9.9.9", map[string]any{"key": key})
		return v.Code == "FORBIDDEN", fmt.Sprintf("verify from a stranger answers %v", v)
	})
	// FORBIDDEN spends no credits (and carries the balance it did not touch).
	for range 3 {
		if v := verify("9.9.9.9", map[string]any{"key": key}); v.Code != "FORBIDDEN" || v.credits() != 10 || v.Valid {
			t.Fatalf("stranger: %v", v)
		}
	}
	for i, c := range []struct{ xff, want string }{
		{"1.2.3.4", "VALID"},
		{"1.2.3.4:5678", "VALID"},                     // port stripped
		{" , 1.2.3.4, 9.9.9.9", "VALID"},              // first non-empty entry
		{"9.9.9.9, 1.2.3.4", "FORBIDDEN"},             // only the first counts
		{"2001:db8::1", "VALID"},                      // IPv6
		{"[2001:db8:0:0::1]:443", "VALID"},            // IPv6 with a port, another spelling
		{"::ffff:1.2.3.4", "VALID"},                   // IPv4-mapped
		{"2001:db8::2", "FORBIDDEN"},                  //
		{"", "FORBIDDEN"},                             // the peer, 127.0.0.1, is not listed
		{"not-an-address", "FORBIDDEN"},               //
		{"1.2.3.4.5", "FORBIDDEN"},                    //
		{"10.0.0.0/8", "FORBIDDEN"},                   //
		{"1.2.3.4" + strings.Repeat(" ", 3), "VALID"}, // trimmed
	} {
		if v := verify(c.xff, map[string]any{"key": key, "credits": map[string]any{"cost": 1}}); v.Code != c.want {
			t.Fatalf("case %d, X-Forwarded-For %q: %v, want %s", i, c.xff, v, c.want)
		}
	}
	// 7 VALID above, 10 - 7 left.
	if v := verify("1.2.3.4", map[string]any{"key": key, "credits": map[string]any{"cost": 0}}); v.credits() != 3 {
		t.Fatalf("credits after the table: %v", v)
	}
	// Nor does it take rate-limit tokens: the one token is still there.
	for range 3 {
		if v := verify("9.9.9.9", map[string]any{"key": limitedKey}); v.Code != "FORBIDDEN" {
			t.Fatalf("limited key from a stranger: %v", v)
		}
	}
	if v := verify("1.2.3.4", map[string]any{"key": limitedKey}); v.Code != "VALID" {
		t.Fatalf("limited key from a listed address after refusals: %v", v)
	}
	if v := verify("1.2.3.4", map[string]any{"key": limitedKey}); v.Code != "RATE_LIMITED" {
		t.Fatalf("the token was spent once: %v", v)
	}
	// Steps 7–9 come first: another workspace's root key sees NOT_FOUND.
	if status, _, raw := ts.verifyAs(t, nil, ts.URL, outsider, "9.9.9.9", map[string]any{"key": key}); status != 200 || raw != minimalNotFound {
		t.Fatalf("outsider from a stranger address: %d %s", status, raw)
	}

	// Without the header the connection's address counts, over IPv4 and IPv6.
	cli(t, cfg, &set, "apis", "allow-ips", "--api", api, "--ips", "127.0.0.1,::1")
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		v := verify("", map[string]any{"key": key, "credits": map[string]any{"cost": 0}})
		return v.Code == "VALID", fmt.Sprintf("verify from 127.0.0.1 answers %v", v)
	})
	if v := verify("1.2.3.4", map[string]any{"key": key, "credits": map[string]any{"cost": 0}}); v.Code != "FORBIDDEN" {
		t.Fatalf("the header wins over the peer: %v", v)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	if conn, err := net.DialTimeout("tcp", "[::1]:"+port, time.Second); err != nil {
		t.Logf("no IPv6 loopback here (%v): skipping the IPv6 peer", err)
	} else {
		conn.Close()
		if status, v, raw := ts.verifyAs(t, nil, "http://[::1]:"+port, root, "", map[string]any{"key": key, "credits": map[string]any{"cost": 0}}); status != 200 || v.Code != "VALID" {
			t.Fatalf("from [::1]: %d %s", status, raw)
		}
	}

	// The same list again changes nothing; an empty one lifts it.
	cli(t, cfg, &set, "apis", "allow-ips", "--api", api, "--ips", "::1,127.0.0.1")
	if set.Changed {
		t.Fatalf("the same list again printed %+v", set)
	}
	cli(t, cfg, &set, "apis", "allow-ips", "--api", api, "--ips", "")
	if !set.Changed || len(set.IPs) != 0 {
		t.Fatalf("clearing printed %+v", set)
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		v := verify("9.9.9.9", map[string]any{"key": key, "credits": map[string]any{"cost": 0}})
		return v.Code == "VALID", fmt.Sprintf("verify after clearing answers %v", v)
	})
}

// The workspace and apis commands refuse bad input and say why: exit 2
// for a command line that cannot run, 1 for a refusal by the store.
func TestCLIWorkspaceAndAllowlistBadInput(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	mintRootKey(t, cfg, "default")
	config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"workspace"}, 2, "subcommand"},
		{[]string{"workspace", "pause", "--workspace", "default"}, 2, "subcommand"},
		{[]string{"workspace", "disable", "--config", config}, 2, "--workspace is required"},
		{[]string{"workspace", "disable", "--config", config, "--workspace", "nope"}, 1, `workspace "nope" does not exist`},
		{[]string{"workspace", "enable", "--config", config, "--workspace", "default", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"apis"}, 2, "missing subcommand (one of: allow-ips)"},
		{[]string{"apis", "allow-ips", "--config", config, "--ips", "1.2.3.4"}, 2, "--api is required"},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x"}, 2, "--ips is required"},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x", "--ips", "1.2.3.4"}, 1, `API "api_x" does not exist or has been deleted`},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x", "--ips", "1.2.3"}, 1, `invalid IP address "1.2.3": not an IPv4 or IPv6 address`},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x", "--ips", "10.0.0.0/8"}, 1, `invalid IP address "10.0.0.0/8": ranges (CIDR) are not supported`},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x", "--ips", "1.2.3.4,,5.6.7.8"}, 1, `invalid IP address "": empty entry`},
		{[]string{"apis", "allow-ips", "--config", config, "--api", "api_x", "--ips", "1.2.3.4:80"}, 1, `invalid IP address "1.2.3.4:80"`},
	} {
		stdout, stderr, code := runProc(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("keyline %v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, stdout, stderr, c.code, c.want)
		}
		if strings.Contains(stderr, "err:unkey") {
			t.Errorf("keyline %v: the API's error URN leaks to the operator: %q", c.args, stderr)
		}
	}
}

// `keyline replay` rebuilds disabled workspaces and allow-lists exactly.
func TestReplayReproducesForbiddenState(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		outsider := mintRootKey(t, cfg, "outsider")
		a1 := ts.createAPI(t, ts.RootKey, "one")
		a2 := ts.createAPI(t, ts.RootKey, "two")
		a3 := ts.createAPI(t, outsider, "three")
		cli(t, cfg, nil, "apis", "allow-ips", "--api", a1, "--ips", "1.2.3.4,2001:db8::1")
		cli(t, cfg, nil, "apis", "allow-ips", "--api", a2, "--ips", "5.6.7.8")
		cli(t, cfg, nil, "apis", "allow-ips", "--api", a2, "--ips", "")
		cli(t, cfg, nil, "apis", "allow-ips", "--api", a3, "--ips", "9.9.9.9")
		cli(t, cfg, nil, "workspace", "disable", "--workspace", "outsider")
		cli(t, cfg, nil, "workspace", "disable", "--workspace", "default")
		cli(t, cfg, nil, "workspace", "enable", "--workspace", "default")

		before := dumpDatabase(t, cfg.Database.Primary)
		if n := countRows(t, ts, "SELECT COUNT(*) FROM workspaces WHERE disabled_at IS NOT NULL"); n != 1 {
			t.Fatalf("%d disabled workspaces, want 1:\n%v", n, before["workspaces"])
		}
		if n := countRows(t, ts, "SELECT COUNT(*) FROM apis WHERE ip_allowlist <> ''"); n != 2 {
			t.Fatalf("%d allow-listed apis, want 2:\n%v", n, before["apis"])
		}
		config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
		if out, errs, code := runProc(t, "replay", "--config", config); code != 0 {
			t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
		}
		assertSameRows(t, before, dumpDatabase(t, cfg.Database.Primary))
	})
}
