package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
)

func TestKeyPermissionAndRoleEndpoints(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	api := ts.createAPI(t, ts.RootKey, "rbac on keys")
	id, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "permissions": []string{"a.read"}})

	type perm struct{ ID, Name, Slug string }
	var got []perm
	ts.must(t, ts.RootKey, "keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"a.write", "a.read"}}, &got)
	if len(got) != 2 || got[0].Slug != "a.read" || got[1].Slug != "a.write" || got[1].Name != "a.write" || got[1].ID == "" {
		t.Fatalf("addPermissions = %+v", got)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "permissions": "a.read AND a.write"}); v.Code != "VALID" {
		t.Fatalf("verify after add: %v", v)
	}
	ts.must(t, ts.RootKey, "keys.removePermissions", map[string]any{"keyId": id, "permissions": []string{"a.read"}}, &got)
	if len(got) != 1 || got[0].Slug != "a.write" {
		t.Fatalf("removePermissions = %+v", got)
	}
	status, r := ts.call(t, ts.RootKey, "keys.removePermissions", map[string]any{"keyId": id, "permissions": []string{"never.made"}})
	expectError(t, status, r, 404, "unkey/data/permission_not_found")
	ts.must(t, ts.RootKey, "keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{}}, &got)
	if len(got) != 0 {
		t.Fatalf("setPermissions [] = %+v", got)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "permissions": "a.write"}); v.Code != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("verify after set []: %v", v)
	}
	// Creating slugs on the fly needs rbac.*.create_permission.
	noCreate := mintRootKey(t, cfg, "default", "api.*.update_key", "rbac.*.add_permission_to_key")
	status, r = ts.call(t, noCreate, "keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"brand.new"}})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	ts.must(t, noCreate, "keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"a.read"}}, &got)
	noRbac := mintRootKey(t, cfg, "default", "api.*.update_key")
	status, r = ts.call(t, noRbac, "keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"a.read"}})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// Roles come from the RBAC read model; put one there the way its
	// projection will, and see its permissions reach verification.
	db := ts.Server.Store.DB().Primary
	var permID string
	if err := db.QueryRowContext(context.Background(), "SELECT id FROM permissions WHERE slug = 'a.write'").Scan(&permID); err != nil {
		t.Fatal(err)
	}
	var wsID string
	if err := db.QueryRowContext(context.Background(), "SELECT workspace_id FROM keys WHERE id = ?", id).Scan(&wsID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "INSERT INTO roles (id, workspace_id, name, description, created_at) VALUES ('role_editor', ?, 'editor', '', 0)", wsID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "INSERT INTO role_permissions (id, role_id, permission_id) VALUES ('role_editor:p', 'role_editor', ?)", permID); err != nil {
		t.Fatal(err)
	}
	type role struct{ ID, Name string }
	var roles []role
	status, r = ts.call(t, ts.RootKey, "keys.addRoles", map[string]any{"keyId": id, "roles": []string{"viewer"}})
	expectError(t, status, r, 404, "unkey/data/role_not_found")
	ts.must(t, ts.RootKey, "keys.addRoles", map[string]any{"keyId": id, "roles": []string{"editor"}}, &roles)
	if len(roles) != 1 || roles[0].ID != "role_editor" || roles[0].Name != "editor" {
		t.Fatalf("addRoles = %+v", roles)
	}
	v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "permissions": "a.write"})
	if v.Code != "VALID" || len(v.Roles) != 1 {
		t.Fatalf("verify with role permission: %v", v)
	}
	ts.must(t, ts.RootKey, "keys.setRoles", map[string]any{"keyId": id, "roles": []string{}}, &roles)
	if len(roles) != 0 {
		t.Fatalf("setRoles [] = %+v", roles)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "permissions": "a.write"}); v.Code != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("verify after setRoles []: %v", v)
	}
}

func TestRerollKey(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "reroll")
	oldID, oldKey := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "prefix": "sk", "name": "rolling", "externalId": "u1",
		"permissions": []string{"x.y"}, "credits": map[string]any{"remaining": 5}, "expires": time.Now().Add(time.Hour).UnixMilli()})
	ts.verify(t, ts.RootKey, map[string]any{"key": oldKey}) // spends 1: the copy gets 4
	before := time.Now().UnixMilli()
	var out struct{ KeyID, Key string }
	ts.must(t, ts.RootKey, "keys.rerollKey", map[string]any{"keyId": oldID, "expiration": 90000}, &out)
	if out.KeyID == oldID || len(out.Key) < 5 || out.Key[:3] != "sk_" {
		t.Fatalf("reroll = %+v", out)
	}
	v := ts.verify(t, ts.RootKey, map[string]any{"key": out.Key, "permissions": "x.y"})
	if v.Code != "VALID" || v.Name != "rolling" || v.credits() != 3 || v.Expires != nil ||
		v.externalID() != "u1" {
		t.Fatalf("new key: %v", v)
	}
	var old struct{ Expires int64 }
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": oldID}, &old)
	if old.Expires%60000 != 0 || old.Expires < before+90000 || old.Expires > time.Now().UnixMilli()+90000+60000 {
		t.Fatalf("old key expires at %d, want now+90s rounded up to a minute (now %d)", old.Expires, before)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": oldKey}); v.Code != "VALID" {
		t.Fatalf("old key inside its grace period: %v", v)
	}
	ts.must(t, ts.RootKey, "keys.rerollKey", map[string]any{"keyId": out.KeyID, "expiration": 0}, nil)
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": out.Key}); v.Code != "EXPIRED" {
		t.Fatalf("rerolled with expiration 0: %v", v)
	}
}

func TestMigrateKeys(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	cfg.Migrations = []configs.Migration{{ID: "acme_v1", Algorithm: configs.MigrationPrefixedAPIKey},
		{ID: "legacy_sha", Algorithm: configs.MigrationSHA256}}
	ts := startServer(t, cfg)
	api := ts.createAPI(t, ts.RootKey, "migration")
	plaintext := "mycorp_short123_longtoken456"
	sum := sha256.Sum256([]byte("longtoken456"))
	hash := hex.EncodeToString(sum[:])
	var res struct {
		Migrated []struct{ Hash, KeyID string }
		Failed   []string
	}
	ts.must(t, ts.RootKey, "keys.migrateKeys", map[string]any{"migrationId": "acme_v1", "apiId": api,
		"keys": []map[string]any{{"hash": hash, "name": "imported", "credits": map[string]any{"remaining": 3}}}}, &res)
	if len(res.Migrated) != 1 || res.Migrated[0].Hash != hash || len(res.Failed) != 0 {
		t.Fatalf("migrate = %+v", res)
	}
	ts.must(t, ts.RootKey, "keys.migrateKeys", map[string]any{"migrationId": "acme_v1", "apiId": api,
		"keys": []map[string]any{{"hash": hash}}}, &res)
	if len(res.Migrated) != 0 || len(res.Failed) != 1 {
		t.Fatalf("second migrate of the same hash = %+v", res)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": plaintext}); v.Code != "NOT_FOUND" {
		t.Fatalf("before migration: %v", v)
	}
	// An undeclared migrationId finds nothing, and so does a declared one
	// the key was not imported under.
	for _, id := range []string{"other", "legacy_sha"} {
		status, r := ts.call(t, ts.RootKey, "keys.verifyKey", map[string]any{"key": plaintext, "migrationId": id})
		if status != 200 || string(r.Data) != `{"valid":false,"code":"NOT_FOUND"}` {
			t.Fatalf("migration id %s: %d %s", id, status, r.Data)
		}
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": plaintext, "migrationId": "acme_v1"}); v.Code != "VALID" || v.credits() != 2 {
		t.Fatalf("first verify with migration id: %v", v)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": plaintext}); v.Code != "VALID" || v.Name != "imported" {
		t.Fatalf("after migration: %v", v)
	}
	var got struct{ Start string }
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": mustID(t, ts, plaintext)}, &got)
	if got.Start != "mycorp_shor" {
		t.Fatalf("start after migration = %q", got.Start)
	}

	// A migrationId the config does not declare does not exist: 404 after
	// the permission and API checks, as in Unkey, and nothing is imported.
	other := "other_" + plaintext
	sum = sha256.Sum256([]byte("token_of_" + other))
	otherHash := hex.EncodeToString(sum[:])
	status, r := ts.call(t, ts.RootKey, "keys.migrateKeys", map[string]any{"migrationId": "not_configured", "apiId": api,
		"keys": []map[string]any{{"hash": otherHash}}})
	expectError(t, status, r, 404, "unkey/data/migration_not_found")
	if r.Error.Detail != "The requested Migration does not exist or has been deleted." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, ts.RootKey, "keys.migrateKeys", map[string]any{"migrationId": "not_configured", "apiId": "api_missing",
		"keys": []map[string]any{{"hash": otherHash}}})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	noCreate := mintRootKey(t, cfg, "default", "api.*.read_key")
	status, r = ts.call(t, noCreate, "keys.migrateKeys", map[string]any{"migrationId": "not_configured", "apiId": api,
		"keys": []map[string]any{{"hash": otherHash}}})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if n := countRows(t, ts, "SELECT COUNT(*) FROM keys WHERE hash = ?", otherHash); n != 0 {
		t.Fatalf("a refused migration imported %d keys", n)
	}

	// "sha256" is accepted, as in Unkey, but never matches at verification.
	long := "sha256long"
	sum = sha256.Sum256([]byte(long))
	ts.must(t, ts.RootKey, "keys.migrateKeys", map[string]any{"migrationId": "legacy_sha", "apiId": api,
		"keys": []map[string]any{{"hash": hex.EncodeToString(sum[:])}}}, &res)
	if len(res.Migrated) != 1 {
		t.Fatalf("sha256 migration = %+v", res)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": "p_s_" + long, "migrationId": "legacy_sha"}); v.Code != "NOT_FOUND" {
		t.Fatalf("a sha256-migrated key verified: %v", v)
	}
}

func mustID(t *testing.T, ts *testServer, key string) string {
	var who struct{ KeyID string }
	ts.must(t, ts.RootKey, "keys.whoami", map[string]any{"key": key}, &who)
	return who.KeyID
}

func TestRecoverableKeys(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	cfg.Encryption = &configs.Encryption{Keys: []configs.EncryptionKey{{ID: "k1", Key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}}
	ts := startServer(t, cfg)
	api := ts.createAPI(t, ts.RootKey, "recoverable")
	id, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "recoverable": true})
	var got struct{ Plaintext string }
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id, "decrypt": true}, &got)
	if got.Plaintext != key {
		t.Fatalf("decrypted %q, want %q", got.Plaintext, key)
	}
	status, r := ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api, "decrypt": true})
	var page []struct{ Plaintext string }
	if status != 200 || json.Unmarshal(r.Data, &page) != nil || len(page) != 1 || page[0].Plaintext != key {
		t.Fatalf("listKeys decrypt: %d %s", status, r.Data)
	}
	var plain map[string]any
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id}, &plain)
	if _, has := plain["plaintext"]; has {
		t.Fatal("plaintext returned without decrypt")
	}
	noDecrypt := mintRootKey(t, cfg, "default", "api.*.read_key", "api.*.read_api")
	status, r = ts.call(t, noDecrypt, "keys.getKey", map[string]any{"keyId": id, "decrypt": true})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
}

func TestVerifyUnknownRatelimitIs412(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "ratelimited")
	_, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api,
		"ratelimits": []map[string]any{{"name": "requests", "limit": 10, "duration": 1000, "autoApply": true}}})
	status, r := ts.call(t, ts.RootKey, "keys.verifyKey", map[string]any{"key": key, "ratelimits": []map[string]any{{"name": "nope"}}})
	expectError(t, status, r, 412, "unkey/application/precondition_failed")
	if !strings.HasSuffix(r.Error.Detail, "and there is no identity connected.") {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "ratelimits": []map[string]any{{"name": "requests"}}}); v.Code != "VALID" {
		t.Fatalf("known name: %v", v)
	}
}

// Rate limits attached to a key are decided by the same limiter as
// ratelimit.limit; a rate-limited verification spends no credits, and an
// ad-hoc limit in the request is counted on its own.
func TestVerifyKeyRatelimits(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "verify limits")
	_, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 10},
		"ratelimits": []map[string]any{{"name": "requests", "limit": 3, "duration": 60000, "autoApply": true}}})
	codes := map[string]int{}
	var last verification
	for range 5 {
		last = ts.verify(t, ts.RootKey, map[string]any{"key": key})
		codes[last.Code]++
	}
	if codes["VALID"] != 3 || codes["RATE_LIMITED"] != 2 {
		t.Fatalf("codes = %v, want 3 VALID and 2 RATE_LIMITED", codes)
	}
	if len(last.Ratelimits) != 1 {
		t.Fatalf("ratelimits = %+v, want the one auto-applied limit", last.Ratelimits)
	}
	rl := last.Ratelimits[0]
	if rl.Name != "requests" || !rl.Exceeded || rl.Remaining != 0 || rl.Limit != 3 {
		t.Fatalf("ratelimits[0] = %+v", rl)
	}
	if rl.Reset <= time.Now().UnixMilli() {
		t.Fatalf("reset %v is not in the future", rl.Reset)
	}
	// Three VALID verifications spent three credits; the denied ones none.
	if remaining := last.credits(); remaining != 7 {
		t.Fatalf("credits after rate-limited verifications = %v, want 7", remaining)
	}
}

// Without an encryption keyring there is nothing to decrypt with: decrypt
// is Unkey's 412 for a missing vault, after the permission checks, on
// getKey and listKeys alike; without decrypt both still answer 200.
func TestDecryptWithoutKeyringIs412(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	api := ts.createAPI(t, ts.RootKey, "no vault")
	id, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api})
	for _, c := range []struct {
		op   string
		body map[string]any
	}{
		{"keys.getKey", map[string]any{"keyId": id, "decrypt": true}},
		{"apis.listKeys", map[string]any{"apiId": api, "decrypt": true}},
	} {
		status, r := ts.call(t, ts.RootKey, c.op, c.body)
		expectError(t, status, r, 412, "unkey/application/precondition_failed")
		if r.Error.Detail != "Vault hasn't been set up." || r.Error.Title != "Precondition Failed" {
			t.Fatalf("%s: %+v", c.op, r.Error)
		}
		c.body["decrypt"] = false
		if status, r := ts.call(t, ts.RootKey, c.op, c.body); status != 200 {
			t.Fatalf("%s without decrypt: %d %+v", c.op, status, r.Error)
		}
	}
	// A caller without decrypt_key learns of the missing permission first.
	noDecrypt := mintRootKey(t, cfg, "default", "api.*.read_key", "api.*.read_api")
	status, r := ts.call(t, noDecrypt, "keys.getKey", map[string]any{"keyId": id, "decrypt": true})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	status, r = ts.call(t, noDecrypt, "apis.listKeys", map[string]any{"apiId": api, "decrypt": true})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
}

// Deleting a key twice, or a key that never existed, is the 404 of Unkey's
// deleteKey handler, with its own wording.
func TestDeleteDeletedKeyIs404(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "delete twice")
	id, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api})
	ts.must(t, ts.RootKey, "keys.deleteKey", map[string]any{"keyId": id}, nil)
	for _, keyID := range []string{id, "key_neverexisted"} {
		for _, permanent := range []bool{false, true} {
			status, r := ts.call(t, ts.RootKey, "keys.deleteKey", map[string]any{"keyId": keyID, "permanent": permanent})
			expectError(t, status, r, 404, "unkey/data/key_not_found")
			if r.Error.Detail != "We could not find the requested key." || r.Error.Title != "Not Found" {
				t.Fatalf("delete %s (permanent %v): %+v", keyID, permanent, r.Error)
			}
		}
	}
}
