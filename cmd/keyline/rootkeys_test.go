package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/runtime"
	"github.com/keyline/keyline/infra/testenv"
)

// listedRootKey is one line of `keyline rootkeys list`.
type listedRootKey struct {
	RootKeyID   string   `json:"rootKeyId"`
	WorkspaceID string   `json:"workspaceId"`
	Name        string   `json:"name"`
	Start       string   `json:"start"`
	Permissions []string `json:"permissions"`
	Configured  bool     `json:"configured"`
	CreatedAt   int64    `json:"createdAt"`
	Revoked     bool     `json:"revoked"`
	RevokedAt   *int64   `json:"revokedAt"`
}

// jsonLines decodes every line of out into a map, failing on anything that
// is not one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" && out == "" {
			break
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not one JSON object per line: %q (%v)", out, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// rootKeysCLI runs `keyline rootkeys VERB --config config ARGS...` and
// expects exit 0.
func rootKeysCLI(t *testing.T, config, verb string, args ...string) string {
	t.Helper()
	out, errs, code := runProc(t, append([]string{"rootkeys", verb, "--config", config}, args...)...)
	if code != 0 {
		t.Fatalf("rootkeys %s %v: exit %d\nstdout: %s\nstderr: %s", verb, args, code, out, errs)
	}
	return out
}

// createRootKeyCLI runs `keyline rootkeys create` and returns the key it
// printed once.
func createRootKeyCLI(t *testing.T, config string, args ...string) handlers.MintedRootKey {
	t.Helper()
	out := rootKeysCLI(t, config, "create", args...)
	lines := jsonLines(t, out)
	var minted handlers.MintedRootKey
	if len(lines) != 1 || json.Unmarshal([]byte(out), &minted) != nil ||
		!reflect.DeepEqual(keysOf(lines[0]), []string{"rootKey", "rootKeyId", "workspaceId"}) ||
		!strings.HasPrefix(minted.RootKeyID, "key_") || !strings.HasPrefix(minted.RootKey, "kl_root_") ||
		!strings.HasPrefix(minted.WorkspaceID, "ws_") {
		t.Fatalf("rootkeys create printed %q", out)
	}
	return minted
}

func listRootKeysCLI(t *testing.T, config, workspace string) []listedRootKey {
	t.Helper()
	out := rootKeysCLI(t, config, "list", "--workspace", workspace)
	lines := jsonLines(t, out)
	keys := make([]listedRootKey, len(lines))
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if err := json.Unmarshal([]byte(l), &keys[i]); err != nil {
			t.Fatal(err)
		}
		want := []string{"configured", "createdAt", "name", "permissions", "revoked", "rootKeyId", "start", "workspaceId"}
		if keys[i].Revoked {
			want = []string{"configured", "createdAt", "name", "permissions", "revoked", "revokedAt", "rootKeyId", "start", "workspaceId"}
		}
		if got := keysOf(lines[i]); !reflect.DeepEqual(got, want) {
			t.Fatalf("list line %d has fields %v, want %v: %s", i, got, want, l)
		}
	}
	return keys
}

// expectUnauthorized asserts the 401 an unknown root key gets.
func expectUnauthorized(t *testing.T, status int, r response) bool {
	t.Helper()
	return status == 401 && r.Error != nil && r.Error.Type == "https://unkey.com/docs/errors/unkey/authentication/key_not_found" &&
		r.Error.Detail == "The provided root key is invalid. We could not find the requested key."
}

// The list/create/revoke output shapes and every refusal's exit code and
// message. No server runs: the commands work on the store alone.
func TestRootKeysCLIShapesAndErrors(t *testing.T) {
	t.Parallel()
	config := writeConfig(t, map[string]any{"database": map[string]any{"primary": "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")}})
	out, errs, code := runProc(t, "bootstrap", "--config", config, "--workspace", "acme", "--permissions", "api.*.create_api")
	var boot handlers.MintedRootKey
	if code != 0 || json.Unmarshal([]byte(out), &boot) != nil {
		t.Fatalf("bootstrap: exit %d %q %s", code, out, errs)
	}
	perms := "api.*.read_api,api.api_1.read_key,unkey:v1:" + boot.WorkspaceID + ":keyspaces/**#verify_key,api.*.read_api"
	minted := createRootKeyCLI(t, config, "--workspace", "acme", "--name", "ci deploys", "--permissions", perms)
	all := createRootKeyCLI(t, config, "--workspace", " acme ")
	if minted.WorkspaceID != boot.WorkspaceID || all.WorkspaceID != boot.WorkspaceID {
		t.Fatalf("created in %s and %s, bootstrap's workspace is %s", minted.WorkspaceID, all.WorkspaceID, boot.WorkspaceID)
	}

	keys := listRootKeysCLI(t, config, "acme")
	if len(keys) != 3 {
		t.Fatalf("list shows %d keys, want 3: %+v", len(keys), keys)
	}
	byID := map[string]listedRootKey{}
	for _, k := range keys {
		byID[k.RootKeyID] = k
		if k.WorkspaceID != boot.WorkspaceID || k.Revoked || k.RevokedAt != nil || k.Configured ||
			time.Since(time.UnixMilli(k.CreatedAt)).Abs() > time.Hour {
			t.Fatalf("listed %+v", k)
		}
	}
	got := byID[minted.RootKeyID]
	wantPerms := []string{"api.*.read_api", "api.api_1.read_key", "unkey:v1:" + boot.WorkspaceID + ":keyspaces/**#verify_key"}
	if got.Name != "ci deploys" || !reflect.DeepEqual(got.Permissions, wantPerms) || got.Start != minted.RootKey[:len(got.Start)] ||
		len(got.Start) >= len(minted.RootKey)/2 {
		t.Fatalf("listed %+v for %+v", got, minted)
	}
	if k := byID[all.RootKeyID]; k.Name != "cli" || !reflect.DeepEqual(k.Permissions, events.AllRootPermissions()) {
		t.Fatalf("a key created without flags: %+v", k)
	}
	if k := byID[boot.RootKeyID]; k.Name != "bootstrap" || !reflect.DeepEqual(k.Permissions, []string{"api.*.create_api"}) {
		t.Fatalf("bootstrap's key: %+v", k)
	}
	// No line carries a secret, nor the hash a secret could be checked against.
	listed := rootKeysCLI(t, config, "list", "--workspace", "acme")
	for _, secret := range []string{minted.RootKey, all.RootKey, boot.RootKey} {
		if strings.Contains(listed, secret) || strings.Contains(listed, events.HashKey(secret)) {
			t.Fatalf("list reveals a secret or its hash:\n%s", listed)
		}
	}

	out = rootKeysCLI(t, config, "revoke", "--workspace", "acme", "--id", minted.RootKeyID)
	lines := jsonLines(t, out)
	if len(lines) != 1 || !reflect.DeepEqual(lines[0], map[string]any{"rootKeyId": minted.RootKeyID, "workspaceId": boot.WorkspaceID, "revoked": true}) {
		t.Fatalf("revoke printed %q", out)
	}
	for _, k := range listRootKeysCLI(t, config, "acme") {
		if revoked := k.RootKeyID == minted.RootKeyID; k.Revoked != revoked || (k.RevokedAt != nil) != revoked ||
			(revoked && *k.RevokedAt < k.CreatedAt) {
			t.Fatalf("after revoking %s, list shows %+v", minted.RootKeyID, k)
		}
	}

	// Another workspace, to show that a key is only found in its own.
	if _, errs, code := runProc(t, "bootstrap", "--config", config, "--workspace", "other"); code != 0 {
		t.Fatalf("bootstrap other: %s", errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rootkeys", "revoke", "--workspace", "acme", "--id", minted.RootKeyID}, "keyline rootkeys VERB: root key " + minted.RootKeyID + " is already revoked\n"},
		{[]string{"rootkeys", "revoke", "--workspace", "acme", "--id", "key_doesnotexist"}, "keyline rootkeys VERB: root key key_doesnotexist does not exist in workspace \"acme\"\n"},
		{[]string{"rootkeys", "revoke", "--workspace", "other", "--id", all.RootKeyID}, "keyline rootkeys VERB: root key " + all.RootKeyID + " does not exist in workspace \"other\"\n"},
		{[]string{"rootkeys", "revoke", "--workspace", "nowhere", "--id", all.RootKeyID}, "keyline rootkeys VERB: workspace \"nowhere\" does not exist (keyline bootstrap creates it)\n"},
		{[]string{"rootkeys", "list", "--workspace", "nowhere"}, "keyline rootkeys VERB: workspace \"nowhere\" does not exist (keyline bootstrap creates it)\n"},
		{[]string{"rootkeys", "create", "--workspace", "nowhere"}, "keyline rootkeys VERB: workspace \"nowhere\" does not exist (keyline bootstrap creates it)\n"},
		{[]string{"rootkeys", "create", "--workspace", "acme", "--permissions", "api.*.read_api,api.*.frobnicate"},
			`keyline rootkeys VERB: invalid permission "api.*.frobnicate": api has no action "frobnicate" (known: create_api, read_api, update_api, delete_api, create_key, read_key, update_key, delete_key, encrypt_key, decrypt_key, verify_key, read_analytics)` + "\n"},
		{[]string{"rootkeys", "create", "--workspace", "acme", "--permissions", "unkey:v1:ws_other:**#*"},
			"keyline rootkeys VERB: invalid permission \"unkey:v1:ws_other:**#*\": it names workspace ws_other, but the root key belongs to " + boot.WorkspaceID + "\n"},
		{[]string{"bootstrap", "--workspace", "fresh", "--permissions", "keys.*.verify"},
			"keyline bootstrap: invalid permission \"keys.*.verify\": unknown resource \"keys\" (known: api, ratelimit, rbac, identity, portal, workspace)\n"},
		{[]string{"bootstrap", "--workspace", "fresh", "--permissions", "api.*.create_api,api.create_key"},
			"keyline bootstrap: invalid permission \"api.create_key\": a permission is <resource>.<id or *>.<action>"},
		{[]string{"bootstrap", "--workspace", "fresh", "--permissions", "unkey:v1:" + events.WorkspaceIDForName("fresh") + ":keyspaces/**#*"},
			"keyline bootstrap: invalid permission \"unkey:v1:" + events.WorkspaceIDForName("fresh") + ":keyspaces/**#*\": a resource permission is unkey:v1:<workspaceId>:<path>#<action>"},
	} {
		args := append(tc.args[:2:2], append([]string{"--config", config}, tc.args[2:]...)...)
		if tc.args[0] == "bootstrap" {
			args = append([]string{"bootstrap", "--config", config}, tc.args[1:]...)
		}
		out, errs, code := runProc(t, args...)
		want := strings.ReplaceAll(tc.want, "VERB", tc.args[1])
		if code != 1 || out != "" || !strings.Contains(errs, want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errs, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rootkeys", "revoke", "--workspace", "acme"}, "keyline rootkeys revoke: --id is required\n"},
		{[]string{"rootkeys", "list"}, "keyline rootkeys list: --workspace is required\n"},
		{[]string{"rootkeys", "list", "--workspace", "acme", "extra"}, "keyline rootkeys list: unexpected argument \"extra\"\n"},
		{[]string{"rootkeys", "rotate"}, "keyline rootkeys: unknown subcommand \"rotate\" (one of: create, list, revoke)\n"},
		{[]string{"rootkeys", "lsit"}, "(did you mean list?)"},
	} {
		out, errs, code := runProc(t, append(tc.args, "--config", config)...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "Run 'keyline rootkeys") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
	// Refused commands changed nothing: the bootstrap with bad permissions
	// did not leave its workspace behind, the refused creates made no key.
	if _, errs, code := runProc(t, "rootkeys", "list", "--config", config, "--workspace", "fresh"); code != 1 || !strings.Contains(errs, `workspace "fresh" does not exist`) {
		t.Fatalf("a refused bootstrap created its workspace: exit %d %s", code, errs)
	}
	if keys := listRootKeysCLI(t, config, "acme"); len(keys) != 3 {
		t.Fatalf("refused creates left keys behind: %+v", keys)
	}
	if keys := listRootKeysCLI(t, config, "other"); len(keys) != 1 || keys[0].Revoked {
		t.Fatalf("workspace other: %+v", keys)
	}
	for _, verb := range []string{"list", "create", "revoke"} {
		help, _, code := runProc(t, "rootkeys", verb, "--help")
		if code != 0 || !containsAll(help, "keyline rootkeys "+verb, "--workspace", "--config") {
			t.Fatalf("rootkeys %s --help: exit %d\n%s", verb, code, help)
		}
	}
}

// Two keyline processes on one PostgreSQL: a root key minted by the CLI
// works on both; `keyline rootkeys revoke`, run as its own process against
// the same config, makes it answer 401 on both nodes within a second, on
// management endpoints and keys.verifyKey alike, while other root keys keep
// working. Replay rebuilds the same root_keys table.
func TestRootKeyRevocationReachesEveryNodeWithinASecond(t *testing.T) {
	t.Parallel()
	pg := testenv.FreshPostgresDatabase(t)
	root := "kl_root_test_" + handlers.NewID("k")
	var nodes []*testServer
	var configs []string
	for range 2 {
		port := testenv.FreePort(t)
		config := writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": pg},
			"bootstrap": map[string]any{"rootKey": root}})
		_, ts := startFromConfig(t, config, port)
		nodes = append(nodes, ts)
		configs = append(configs, config)
	}
	a, b := nodes[0], nodes[1]
	api := a.createAPI(t, root, "revocation")
	_, key := a.createKey(t, root, map[string]any{"apiId": api})
	minted := createRootKeyCLI(t, configs[0], "--workspace", "default", "--name", "to revoke")
	// Both nodes authenticate the new key, so both hold it in their cache.
	for _, ts := range nodes {
		ts.must(t, minted.RootKey, "apis.getApi", map[string]string{"apiId": api}, nil)
		if v := ts.verify(t, minted.RootKey, map[string]any{"key": key}); v.Code != "VALID" {
			t.Fatalf("verifyKey with the new root key: %v", v)
		}
	}

	rootKeysCLI(t, configs[0], "revoke", "--workspace", "default", "--id", minted.RootKeyID)
	revoked := time.Now()
	verifyBody, _ := json.Marshal(map[string]any{"key": key})
	getBody, _ := json.Marshal(map[string]any{"apiId": api})
	for _, ts := range []*testServer{b, a} {
		testenv.Eventually(t, time.Second-time.Since(revoked), func() (bool, string) {
			s1, r1 := ts.raw(t, "apis.getApi", "Bearer "+minted.RootKey, getBody)
			s2, r2 := ts.raw(t, "keys.verifyKey", "Bearer "+minted.RootKey, verifyBody)
			return expectUnauthorized(t, s1, r1) && expectUnauthorized(t, s2, r2),
				fmt.Sprintf("%s: getApi answered %d, verifyKey %d", ts.URL, s1, s2)
		})
	}
	t.Logf("both nodes refused the revoked key %v after the revoke command returned", time.Since(revoked))
	// Still refused on every endpoint, write or read, and the configured key
	// still works on both nodes.
	for _, ts := range nodes {
		status, r := ts.call(t, minted.RootKey, "apis.createApi", map[string]string{"name": "after revocation"})
		if !expectUnauthorized(t, status, r) {
			t.Fatalf("createApi with a revoked key: %d %+v", status, r.Error)
		}
		status, r = ts.call(t, minted.RootKey, "keys.createKey", map[string]any{"apiId": api})
		if !expectUnauthorized(t, status, r) {
			t.Fatalf("createKey with a revoked key: %d %+v", status, r.Error)
		}
		if v := ts.verify(t, root, map[string]any{"key": key}); v.Code != "VALID" {
			t.Fatalf("verifyKey with the configured root key: %v", v)
		}
	}

	before := dumpDatabase(t, pg)
	if n := len(before["root_keys"]); n != 2 || !strings.Contains(strings.Join(before["root_keys"], "\n"), "id="+minted.RootKeyID+";") {
		t.Fatalf("root_keys holds %d rows: %v", n, before["root_keys"])
	}
	if out, errs, code := runProc(t, "replay", "--config", configs[1], "--projection", "root_keys"); code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
	}
	assertSameRows(t, before, dumpDatabase(t, pg))
	// The rebuilt read model still refuses the key (both nodes, cache dropped
	// or not: replay changes no row).
	for _, ts := range nodes {
		if status, r := ts.raw(t, "apis.getApi", "Bearer "+minted.RootKey, getBody); !expectUnauthorized(t, status, r) {
			t.Fatalf("after replay: %d %+v", status, r.Error)
		}
	}
}

// Changing bootstrap.rootKey and restarting revokes the key the old setting
// configured: the old key answers 401, the new one 200, and keys minted
// otherwise are untouched. The old setting cannot bring its key back: a
// node started with it refuses to start.
func TestChangedBootstrapRootKeyRevokesTheOldOne(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	dbPath := filepath.Join(t.TempDir(), "keyline.db")
	oldKey, newKey := "kl_root_test_old_"+handlers.NewID("k"), "kl_root_test_new_"+handlers.NewID("k")
	configWith := func(rootKey string) string {
		return writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": "sqlite:" + dbPath},
			"bootstrap": map[string]any{"rootKey": rootKey}})
	}
	oldConfig, newConfig := configWith(oldKey), configWith(newKey)
	stop := func(p *proc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if p.err != nil {
			t.Fatalf("SIGTERM: keyline exited with %v", p.err)
		}
	}

	p, ts := startFromConfig(t, oldConfig, port)
	api := ts.createAPI(t, oldKey, "survives the key change")
	other := createRootKeyCLI(t, oldConfig, "--workspace", "default", "--permissions", "api.*.read_api")
	ts.must(t, other.RootKey, "apis.getApi", map[string]string{"apiId": api}, nil)
	stop(p)

	p, ts = startFromConfig(t, newConfig, port)
	status, r := ts.call(t, oldKey, "apis.getApi", map[string]string{"apiId": api})
	if !expectUnauthorized(t, status, r) {
		t.Fatalf("the replaced configured key: %d %+v", status, r.Error)
	}
	ts.must(t, newKey, "apis.getApi", map[string]string{"apiId": api}, nil)
	ts.must(t, other.RootKey, "apis.getApi", map[string]string{"apiId": api}, nil)
	_, logs := p.output()
	oldID := events.RootKeyIDForHash(events.HashKey(oldKey))
	if !containsAll(logs, "revoked the root key an earlier bootstrap.rootKey configured", oldID) {
		t.Fatalf("the start did not log the revocation:\n%s", logs)
	}
	listed := map[string]listedRootKey{}
	for _, k := range listRootKeysCLI(t, newConfig, "default") {
		listed[k.RootKeyID] = k
	}
	newID := events.RootKeyIDForHash(events.HashKey(newKey))
	if k := listed[oldID]; !k.Configured || !k.Revoked || len(listed) != 3 {
		t.Fatalf("old configured key listed as %+v (of %d)", k, len(listed))
	}
	if k := listed[newID]; !k.Configured || k.Revoked {
		t.Fatalf("new configured key listed as %+v", k)
	}
	if k := listed[other.RootKeyID]; k.Configured || k.Revoked {
		t.Fatalf("CLI key listed as %+v", k)
	}
	stop(p)

	// The old setting again: refused before the port opens, nothing revoked.
	refused := startProc(t, "run", "--config", oldConfig)
	select {
	case <-refused.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a node configured with the revoked key started anyway")
	}
	_, errs := refused.output()
	if refused.cmd.ProcessState.ExitCode() != 1 || !containsAll(errs, "bootstrap.rootKey names root key "+oldID+", which was revoked; configure a new key") {
		t.Fatalf("start with the revoked key configured: %v\n%s", refused.err, errs)
	}
	// A restart on the new setting revokes nothing more.
	p, ts = startFromConfig(t, newConfig, port)
	ts.must(t, newKey, "apis.getApi", map[string]string{"apiId": api}, nil)
	ts.must(t, other.RootKey, "apis.getApi", map[string]string{"apiId": api}, nil)
	stop(p)

	before := dumpSQLite(t, dbPath)
	if out, errs, code := runProc(t, "replay", "--config", newConfig); code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
	}
	after := dumpSQLite(t, dbPath)
	assertSameRows(t, before, after)
	if rows := strings.Join(after["root_keys"], "\n"); len(after["root_keys"]) != 3 ||
		strings.Count(rows, "revoked_at=<nil>") != 2 || !strings.Contains(rows, "id="+oldID+";") {
		t.Fatalf("root_keys after replay:\n%s", rows)
	}
}

// Two nodes starting together with a new bootstrap.rootKey both succeed and
// revoke the old configured key exactly once between them; the old value
// is refused afterwards.
func TestConfiguredRootKeyReplacementRacesConverge(t *testing.T) {
	t.Parallel()
	cfg := postgresConfig(t)
	ctx := context.Background()
	admins := make([]*runtime.Admin, 2)
	for i := range admins {
		admin, cleanup, err := keyline.InitializeAdmin(ctx, cfg, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup)
		if err := admin.Runner.Setup(ctx, admin.Store); err != nil {
			t.Fatal(err)
		}
		admins[i] = admin
	}
	oldKey, newKey := "kl_root_test_old_"+handlers.NewID("k"), "kl_root_test_new_"+handlers.NewID("k")
	first, err := admins[0].Bootstrap.EnsureConfiguredRootKey(ctx, oldKey)
	if err != nil || len(first.Revoked) != 0 {
		t.Fatalf("first configured key: %+v, %v", first, err)
	}
	// Unchanged value on a restart: nothing to revoke.
	if again, err := admins[1].Bootstrap.EnsureConfiguredRootKey(ctx, oldKey); err != nil || again.RootKeyID != first.RootKeyID || len(again.Revoked) != 0 {
		t.Fatalf("same value again: %+v, %v", again, err)
	}

	results := make([]handlers.ConfiguredRootKey, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, admin := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = admin.Bootstrap.EnsureConfiguredRootKey(ctx, newKey)
		}()
	}
	wg.Wait()
	var revoked []string
	for i := range results {
		if errs[i] != nil || results[i].RootKeyID != events.RootKeyIDForHash(events.HashKey(newKey)) {
			t.Fatalf("node %d: %+v, %v", i, results[i], errs[i])
		}
		revoked = append(revoked, results[i].Revoked...)
	}
	if !reflect.DeepEqual(revoked, []string{first.RootKeyID}) {
		t.Fatalf("revoked between them: %v, want exactly [%s]", revoked, first.RootKeyID)
	}
	var n int
	if err := admins[0].Store.DB().Primary.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM events WHERE name = 'root_key.revoked' AND stream_id = ?", events.RootKeyStreamID(first.RootKeyID)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d root_key.revoked events (%v), want 1", n, err)
	}
	_, err = admins[1].Bootstrap.EnsureConfiguredRootKey(ctx, oldKey)
	if e := handlers.AsError(err); e == nil || e.Code != handlers.CodePreconditionFailed ||
		!strings.Contains(e.Detail, "names root key "+first.RootKeyID+", which was revoked") {
		t.Fatalf("the replaced value again: err = %v", err)
	}
}
