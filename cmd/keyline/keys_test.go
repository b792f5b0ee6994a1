package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
)

func TestKeysLifecycle(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		api := ts.createAPI(t, ts.RootKey, "keys lifecycle")
		expires := time.Now().Add(time.Hour).UnixMilli()
		id, key := ts.createKey(t, ts.RootKey, map[string]any{
			"apiId": api, "prefix": "acme", "name": "first", "byteLength": 24, "externalId": "user_42",
			"meta": map[string]any{"plan": "pro"}, "permissions": []string{"docs.read", "docs.write"},
			"expires": expires, "credits": map[string]any{"remaining": 3, "refill": map[string]any{"interval": "monthly", "amount": 3, "refillDay": 31}},
			"ratelimits": []map[string]any{{"name": "requests", "limit": 10, "duration": 1000, "autoApply": true}},
		})
		if !strings.HasPrefix(key, "acme_") || len(key) < 30 {
			t.Fatalf("key %q: want prefix acme_ and 24 random bytes of base58", key)
		}

		status, r := ts.call(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id})
		if status != 200 {
			t.Fatalf("getKey: %d %+v", status, r.Error)
		}
		got := ts.getKey(t, id)
		if want := []string{"createdAt", "credits", "enabled", "expires", "identity", "keyId", "meta", "name", "permissions", "ratelimits", "start"}; !slices.Equal(got.Fields, want) {
			t.Fatalf("getKey fields = %v, want %v (%s)", got.Fields, want, r.Data)
		}
		if got.KeyID != id || got.Start != key[:len("acme_")+4] || !got.Enabled || got.Name != "first" ||
			got.Expires == nil || *got.Expires != expires || got.Meta["plan"] != "pro" {
			t.Fatalf("getKey = %s", r.Data)
		}
		if !slices.Equal(got.Permissions, []string{"docs.read", "docs.write"}) {
			t.Fatalf("permissions = %v", got.Permissions)
		}
		if c := got.Credits; c == nil || c.Remaining == nil || *c.Remaining != 3 || c.Refill == nil || c.Refill.RefillDay == nil || *c.Refill.RefillDay != 31 ||
			c.Refill.Interval != "monthly" || c.Refill.Amount != 3 {
			t.Fatalf("credits = %s", r.Data)
		}
		identity := got.Identity
		if identity == nil || identity.ExternalID != "user_42" || !strings.HasPrefix(identity.ID, "id_") {
			t.Fatalf("identity = %s", r.Data)
		}
		if len(got.Ratelimits) != 1 {
			t.Fatalf("ratelimits = %s", r.Data)
		}
		if rl := got.Ratelimits[0]; rl.Name != "requests" || rl.Limit != 10 || rl.Duration != 1000 || !rl.AutoApply || !strings.HasPrefix(rl.ID, "rl_") {
			t.Fatalf("ratelimits = %+v", rl)
		}

		// whoami finds the same key from its plaintext.
		var who struct{ KeyID string }
		ts.must(t, ts.RootKey, "keys.whoami", map[string]any{"key": key}, &who)
		if who.KeyID != id {
			t.Fatalf("whoami = %+v", who)
		}
		status, r = ts.call(t, ts.RootKey, "keys.whoami", map[string]any{"key": "acme_nope"})
		expectError(t, status, r, 404, "unkey/data/key_not_found")

		// A second key on the same identity converges on it; listKeys pages
		// by ID with the next page's first ID as cursor.
		id2, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "externalId": "user_42"})
		id3, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api})
		ids := []string{id, id2, id3}
		sort.Strings(ids)
		status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api, "limit": 2})
		var page []struct{ KeyID string }
		_ = json.Unmarshal(r.Data, &page)
		if status != 200 || len(page) != 2 || page[0].KeyID != ids[0] || !r.Pagination.HasMore || r.Pagination.Cursor != ids[2] {
			t.Fatalf("page 1: %d %s %+v", status, r.Data, r.Pagination)
		}
		status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api, "cursor": r.Pagination.Cursor})
		_ = json.Unmarshal(r.Data, &page)
		if status != 200 || len(page) != 1 || page[0].KeyID != ids[2] || r.Pagination.HasMore || r.Pagination.Cursor != "" {
			t.Fatalf("page 2: %d %s %+v", status, r.Data, r.Pagination)
		}
		status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api, "externalId": "user_42"})
		_ = json.Unmarshal(r.Data, &page)
		if status != 200 || len(page) != 2 {
			t.Fatalf("externalId filter: %s", r.Data)
		}
		status, r = ts.call(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api, "externalId": "nobody"})
		if status != 200 || string(r.Data) != "[]" {
			t.Fatalf("unknown externalId: %d %s", status, r.Data)
		}
		second := ts.getKey(t, id2)
		if second.Identity == nil || second.Identity.ID != identity.ID {
			t.Fatalf("second key's identity %+v, want %+v", second.Identity, identity)
		}
		if want := []string{"createdAt", "enabled", "identity", "keyId", "start"}; !slices.Equal(second.Fields, want) {
			t.Fatalf("minimal key fields = %v, want %v", second.Fields, want)
		}

		// updateKey: absent leaves, null clears, a value sets.
		ts.must(t, ts.RootKey, "keys.updateKey", map[string]any{"keyId": id, "name": nil, "meta": map[string]any{"plan": "team"},
			"externalId": nil, "credits": map[string]any{"refill": nil}, "enabled": false}, nil)
		updated := ts.getKey(t, id)
		if slices.Contains(updated.Fields, "name") {
			t.Fatalf("name survived null: %+v", updated)
		}
		if slices.Contains(updated.Fields, "identity") {
			t.Fatalf("identity survived externalId null: %+v", updated)
		}
		if updated.Meta["plan"] != "team" || updated.Enabled || updated.Expires == nil || *updated.Expires != expires {
			t.Fatalf("after update: %+v", updated)
		}
		if c := updated.Credits; c == nil || c.Remaining == nil || *c.Remaining != 3 || c.Refill != nil {
			t.Fatalf("credits after refill null: %+v", c)
		}
		if updated.UpdatedAt == nil {
			t.Fatal("updatedAt missing after an update")
		}
		ts.must(t, ts.RootKey, "keys.updateKey", map[string]any{"keyId": id, "credits": nil}, nil)
		if updated := ts.getKey(t, id); slices.Contains(updated.Fields, "credits") {
			t.Fatalf("credits survived credits:null: %+v", updated)
		}
		status, r = ts.call(t, ts.RootKey, "keys.updateKey", map[string]any{"keyId": id,
			"credits": map[string]any{"remaining": 5, "refill": map[string]any{"interval": "daily", "amount": 5, "refillDay": 3}}})
		expectError(t, status, r, 400, "unkey/application/invalid_input")
		if r.Error.Detail != "`refillDay` must not be provided when the refill interval is `daily`." {
			t.Fatalf("detail = %q", r.Error.Detail)
		}

		// deleteKey: soft, then 404; permanent erases.
		ts.must(t, ts.RootKey, "keys.deleteKey", map[string]any{"keyId": id}, nil)
		// The two handlers word their 404 differently in Unkey.
		for op, detail := range map[string]string{"keys.getKey": "The specified key was not found.",
			"keys.deleteKey": "We could not find the requested key."} {
			status, r = ts.call(t, ts.RootKey, op, map[string]any{"keyId": id})
			expectError(t, status, r, 404, "unkey/data/key_not_found")
			if r.Error.Detail != detail {
				t.Fatalf("%s: detail = %q, want %q", op, r.Error.Detail, detail)
			}
		}
		ts.must(t, ts.RootKey, "keys.deleteKey", map[string]any{"keyId": id2, "permanent": true}, nil)
		status, r = ts.call(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id2})
		expectError(t, status, r, 404, "unkey/data/key_not_found")
	})
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "validation")
	status, r := ts.call(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": api, "roles": []string{"admin"}})
	expectError(t, status, r, 404, "unkey/data/role_not_found")
	if r.Error.Detail != "Role 'admin' was not found." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": api,
		"credits": map[string]any{"remaining": 5, "refill": map[string]any{"interval": "monthly", "amount": 5}}})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
	if r.Error.Detail != "`refillDay` must be provided when the refill interval is `monthly`." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": api, "recoverable": true})
	expectError(t, status, r, 412, "unkey/application/precondition_failed")
	status, r = ts.call(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": "api_missing"})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	status, r = ts.call(t, ts.RootKey, "keys.createKey", map[string]any{"apiId": api, "byteLength": 8})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
	// credits.remaining null without refill is unlimited.
	id, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": nil}})
	var got map[string]any
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id}, &got)
	if _, has := got["credits"]; has {
		t.Fatalf("unlimited key shows credits: %v", got)
	}
}

func TestUpdateCredits(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "credits")
	id, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 10}})
	type credits struct {
		Remaining *int64
		Refill    any
	}
	steps := []struct {
		op    string
		value any
		want  int64
	}{{"decrement", 3, 7}, {"increment", 5, 12}, {"set", 4, 4}, {"decrement", 9, 0}}
	for _, s := range steps {
		var c credits
		ts.must(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": id, "operation": s.op, "value": s.value}, &c)
		if c.Remaining == nil || *c.Remaining != s.want {
			t.Fatalf("%s %v: remaining %v, want %d", s.op, s.value, c.Remaining, s.want)
		}
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key}); v.Code != "USAGE_EXCEEDED" || v.credits() != 0 {
		t.Fatalf("verify at 0: %v", v)
	}
	var c credits
	ts.must(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": nil}, &c)
	if c.Remaining != nil {
		t.Fatalf("set null: %+v", c)
	}
	status, r := ts.call(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": id, "operation": "increment", "value": 1})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
	if r.Error.Detail != "You cannot increment or decrement a key with unlimited credits." {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	if v := ts.verify(t, ts.RootKey, map[string]any{"key": key}); v.Code != "VALID" || v.Credits != nil {
		t.Fatalf("verify unlimited: %v", v)
	}
	status, r = ts.call(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": "key_nope", "operation": "set", "value": 1})
	expectError(t, status, r, 404, "unkey/data/key_not_found")
}

func TestVerifyKeyCodes(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		api := ts.createAPI(t, ts.RootKey, "verify codes")
		now := time.Now().UnixMilli()
		_, valid := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "name": "v", "externalId": "cust_1",
			"meta": map[string]any{"tier": 1}, "permissions": []string{"docs.read", "docs.write"}})
		_, disabled := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "enabled": false, "expires": now - 1000})
		_, expired := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "expires": now - 1000})
		limitedID, limited := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 2},
			"permissions": []string{"docs.read"}})

		v := ts.verify(t, ts.RootKey, map[string]any{"key": valid, "permissions": "docs.read AND (docs.write OR admin)"})
		if want := []string{"code", "enabled", "identity", "keyId", "meta", "name", "permissions", "valid"}; v.Code != "VALID" || !slices.Equal(v.Fields, want) {
			t.Fatalf("VALID = %v, fields %v want %v", v, v.Fields, want)
		}
		if v.externalID() != "cust_1" || !strings.HasPrefix(v.Identity.ID, "id_") || v.Meta["tier"] != float64(1) ||
			!slices.Equal(v.Permissions, []string{"docs.read", "docs.write"}) {
			t.Fatalf("VALID = %v", v)
		}
		status, r := ts.call(t, ts.RootKey, "keys.verifyKey", map[string]any{"key": "definitely_not_a_key"})
		if status != 200 || string(r.Data) != `{"valid":false,"code":"NOT_FOUND"}` {
			t.Fatalf("NOT_FOUND: %d %s", status, r.Data)
		}
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": disabled}); v.Code != "DISABLED" || (v.Enabled == nil || *v.Enabled) {
			t.Fatalf("disabled and expired: %v (disabled is checked first)", v)
		}
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": expired}); v.Code != "EXPIRED" || (v.Expires == nil || *v.Expires != now-1000) {
			t.Fatalf("expired: %v", v)
		}
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": valid, "permissions": "admin OR docs.delete"}); v.Code != "INSUFFICIENT_PERMISSIONS" {
			t.Fatalf("insufficient permissions: %v", v)
		}
		// Failed permission checks spend no credits; then 2 credits, cost 0, exceeded.
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": limited, "permissions": "admin"}); v.Code != "INSUFFICIENT_PERMISSIONS" || v.credits() != 2 {
			t.Fatalf("insufficient permissions on limited key: %v", v)
		}
		for i, want := range []struct {
			cost    any
			code    string
			credits int64
		}{{nil, "VALID", 1}, {1, "VALID", 0}, {0, "VALID", 0}, {nil, "USAGE_EXCEEDED", 0}} {
			body := map[string]any{"key": limited}
			if want.cost != nil {
				body["credits"] = map[string]any{"cost": want.cost}
			}
			if v := ts.verify(t, ts.RootKey, body); v.Code != want.code || v.credits() != want.credits {
				t.Fatalf("step %d: %v, want %s with %v credits", i, v, want.code, want.credits)
			}
		}
		ts.must(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": limitedID, "operation": "increment", "value": 5}, nil)
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": limited, "credits": map[string]any{"cost": 5}}); v.Code != "VALID" || v.credits() != 0 {
			t.Fatalf("after increment: %v", v)
		}

		status, r = ts.call(t, ts.RootKey, "keys.verifyKey", map[string]any{"key": valid, "permissions": "docs.read AND"})
		expectError(t, status, r, 400, "user/bad_request/permissions_query_syntax_error")
		if r.Error.Detail != "Unexpected end of query. Expected a permission identifier or opening parenthesis." || len(r.Error.Errors) != 0 {
			t.Fatalf("syntax error = %+v", r.Error)
		}

		// Out of the caller's reach: another workspace, no verify permission,
		// a per-API grant for another API: all look like a missing key.
		other := mintRootKey(t, cfg, "other-ws")
		noVerify := mintRootKey(t, cfg, "default", "api.*.read_key")
		otherAPI := ts.createAPI(t, ts.RootKey, "other api")
		wrongAPI := mintRootKey(t, cfg, "default", "api."+otherAPI+".verify_key")
		rightAPI := mintRootKey(t, cfg, "default", "api."+api+".verify_key")
		for name, root := range map[string]string{"other workspace": other, "no verify permission": noVerify, "grant on another api": wrongAPI} {
			status, r := ts.call(t, root, "keys.verifyKey", map[string]any{"key": valid})
			if status != 200 || string(r.Data) != `{"valid":false,"code":"NOT_FOUND"}` {
				t.Fatalf("%s: %d %s", name, status, r.Data)
			}
		}
		if v := ts.verify(t, rightAPI, map[string]any{"key": valid}); v.Code != "VALID" {
			t.Fatalf("per-api verify grant: %v", v)
		}

		// Disabling through updateKey is visible to the very next verify.
		id, fresh := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api})
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": fresh}); v.Code != "VALID" {
			t.Fatalf("fresh key: %v", v)
		}
		ts.must(t, ts.RootKey, "keys.updateKey", map[string]any{"keyId": id, "enabled": false}, nil)
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": fresh}); v.Code != "DISABLED" {
			t.Fatalf("after disable: %v", v)
		}
		ts.must(t, ts.RootKey, "keys.deleteKey", map[string]any{"keyId": id}, nil)
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": fresh}); v.Code != "NOT_FOUND" {
			t.Fatalf("after delete: %v", v)
		}
		// A deleted API takes its keys with it.
		ts.must(t, ts.RootKey, "apis.deleteApi", map[string]any{"apiId": api}, nil)
		if v := ts.verify(t, ts.RootKey, map[string]any{"key": valid}); v.Code != "NOT_FOUND" || len(v.Fields) != 2 {
			t.Fatalf("key of a deleted api: %v", v)
		}
	})
}

func TestKeyEndpointPermissions(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	api := ts.createAPI(t, ts.RootKey, "perms")
	id, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api})
	readOnly := mintRootKey(t, cfg, "default", "api.*.read_api")
	other := mintRootKey(t, cfg, "elsewhere")

	// createKey and whoami mask a missing permission as 404.
	status, r := ts.call(t, readOnly, "keys.createKey", map[string]any{"apiId": api})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	status, r = ts.call(t, readOnly, "keys.whoami", map[string]any{"key": key})
	expectError(t, status, r, 404, "unkey/data/key_not_found")
	// getKey, updateKey, deleteKey, updateCredits answer 403 after the lookup.
	for op, body := range map[string]map[string]any{
		"keys.getKey":        {"keyId": id},
		"keys.updateKey":     {"keyId": id, "name": "x"},
		"keys.deleteKey":     {"keyId": id},
		"keys.updateCredits": {"keyId": id, "operation": "set", "value": 1},
	} {
		status, r := ts.call(t, readOnly, op, body)
		expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
		// Another workspace's key is a 404, never a 403.
		status, r = ts.call(t, other, op, body)
		expectError(t, status, r, 404, "unkey/data/key_not_found")
	}
	status, r = ts.call(t, readOnly, "keys.getKey", map[string]any{"keyId": id})
	// The URN leg is named too: it is one of the grants that would do.
	if !strings.HasPrefix(r.Error.Detail, "Missing one of these permissions: api.*.read_key or api."+api+".read_key or unkey:v1:ws_") ||
		!strings.HasSuffix(r.Error.Detail, "/keys/"+id+"#read_key") {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, other, "apis.listKeys", map[string]any{"apiId": api})
	expectError(t, status, r, 404, "unkey/data/api_not_found")
	_ = fmt.Sprint(status)
}
