package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyline/keyline/configs"
)

type identityOut struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"externalId"`
	Meta       json.RawMessage `json:"meta"`
	Ratelimits []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Limit     int64  `json:"limit"`
		Duration  int64  `json:"duration"`
		AutoApply bool   `json:"autoApply"`
	} `json:"ratelimits"`
}

func TestIdentitiesLifecycle(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		id := ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": "user_1", "meta": map[string]any{"plan": "pro"},
			"ratelimits": []map[string]any{{"name": "requests", "limit": 10, "duration": 60000, "autoApply": true}}})
		status, r := ts.call(t, ts.RootKey, "identities.createIdentity", map[string]any{"externalId": "user_1"})
		expectError(t, status, r, 409, "unkey/data/identity_already_exists")
		if r.Error.Detail != "Identity with externalId 'user_1' already exists in this workspace." {
			t.Fatalf("409 detail %q", r.Error.Detail)
		}

		// By ID and by externalId.
		for _, ref := range []string{id, "user_1"} {
			var got identityOut
			ts.must(t, ts.RootKey, "identities.getIdentity", map[string]any{"identity": ref}, &got)
			if got.ID != id || got.ExternalID != "user_1" || string(got.Meta) != `{"plan":"pro"}` || len(got.Ratelimits) != 1 ||
				!strings.HasPrefix(got.Ratelimits[0].ID, "rl_") {
				t.Fatalf("getIdentity(%s) = %+v", ref, got)
			}
		}
		status, r = ts.call(t, ts.RootKey, "identities.getIdentity", map[string]any{"identity": "nobody"})
		expectError(t, status, r, 404, "unkey/data/identity_not_found")

		// update: meta replaced, ratelimits replaced as a set keeping IDs by name.
		var before identityOut
		ts.must(t, ts.RootKey, "identities.getIdentity", map[string]any{"identity": id}, &before)
		var updated identityOut
		ts.must(t, ts.RootKey, "identities.updateIdentity", map[string]any{"identity": "user_1", "meta": map[string]any{"plan": "team"},
			"ratelimits": []map[string]any{{"name": "requests", "limit": 5, "duration": 60000, "autoApply": true},
				{"name": "tokens", "limit": 100, "duration": 60000, "autoApply": false}}}, &updated)
		if string(updated.Meta) != `{"plan":"team"}` || len(updated.Ratelimits) != 2 || updated.Ratelimits[0].ID != before.Ratelimits[0].ID ||
			updated.Ratelimits[0].Limit != 5 {
			t.Fatalf("updated = %+v", updated)
		}
		status, r = ts.call(t, ts.RootKey, "identities.updateIdentity", map[string]any{"identity": id,
			"ratelimits": []map[string]any{{"name": "dup", "limit": 1, "duration": 1000, "autoApply": false}, {"name": "dup", "limit": 2, "duration": 1000, "autoApply": false}}})
		expectError(t, status, r, 400, "unkey/application/invalid_input")
		if !strings.Contains(r.Error.Detail, "dup") {
			t.Fatalf("duplicate detail %q", r.Error.Detail)
		}
		var cleared identityOut
		ts.must(t, ts.RootKey, "identities.updateIdentity", map[string]any{"identity": id, "meta": map[string]any{}, "ratelimits": []any{}}, &cleared)
		if len(cleared.Ratelimits) != 0 || (len(cleared.Meta) != 0 && string(cleared.Meta) != "{}") {
			t.Fatalf("cleared = %+v", cleared)
		}

		// Metadata over 1 MB is a 400.
		big := strings.Repeat("x", 1<<20)
		status, r = ts.call(t, ts.RootKey, "identities.createIdentity", map[string]any{"externalId": "big", "meta": map[string]any{"v": big}})
		expectError(t, status, r, 400, "unkey/application/invalid_input")
		if !strings.HasPrefix(r.Error.Detail, "Metadata is too large") {
			t.Fatalf("detail %q", r.Error.Detail)
		}

		// delete → create → delete; the second delete is a 404; delete has no data.
		status, r = ts.call(t, ts.RootKey, "identities.deleteIdentity", map[string]any{"identity": id})
		if status != 200 || r.Data != nil {
			t.Fatalf("delete: %d data %s", status, r.Data)
		}
		status, r = ts.call(t, ts.RootKey, "identities.deleteIdentity", map[string]any{"identity": id})
		expectError(t, status, r, 404, "unkey/data/identity_not_found")
		again := ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": "user_1"})
		if again == id {
			t.Fatal("a re-created identity reused the deleted one's ID")
		}
		var got identityOut
		ts.must(t, ts.RootKey, "identities.getIdentity", map[string]any{"identity": "user_1"}, &got)
		if got.ID != again || got.Meta != nil {
			t.Fatalf("re-created = %+v", got)
		}
		ts.must(t, ts.RootKey, "identities.deleteIdentity", map[string]any{"identity": "user_1"}, nil)
		status, r = ts.call(t, ts.RootKey, "identities.getIdentity", map[string]any{"identity": "user_1"})
		expectError(t, status, r, 404, "unkey/data/identity_not_found")

		// keys.createKey's externalId upsert creates the next generation.
		api := ts.createAPI(t, ts.RootKey, "identity keys")
		keyID, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "externalId": "user_1"})
		var key struct {
			Identity identityOut `json:"identity"`
		}
		ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": keyID}, &key)
		if key.Identity.ExternalID != "user_1" || key.Identity.ID == id || key.Identity.ID == again {
			t.Fatalf("upserted identity %+v", key.Identity)
		}
	})
}

func TestListIdentitiesPaginationAndSearch(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	for i := range 7 {
		ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": fmt.Sprintf("Team_%d", i)})
	}
	ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": "user.x"})
	ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": "userAx"})
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		body := map[string]any{"limit": 4}
		if cursor != "" {
			body["cursor"] = cursor
		}
		status, r := ts.call(t, ts.RootKey, "identities.listIdentities", body)
		if status != 200 || r.Pagination == nil {
			t.Fatalf("list: %d %+v", status, r.Error)
		}
		var page []identityOut
		_ = json.Unmarshal(r.Data, &page)
		for _, i := range page {
			if seen[i.ID] {
				t.Fatalf("%s listed twice", i.ID)
			}
			seen[i.ID] = true
		}
		if !r.Pagination.HasMore {
			break
		}
		cursor = r.Pagination.Cursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 9 {
		t.Fatalf("listed %d identities, want 9", len(seen))
	}
	search := func(s string) int {
		var page []identityOut
		ts.must(t, ts.RootKey, "identities.listIdentities", map[string]any{"search": s}, &page)
		return len(page)
	}
	// case-insensitive substring; "%" and "_" are literal; blank is everything.
	if n := search("team_"); n != 7 {
		t.Fatalf("search team_ = %d", n)
	}
	if n := search("%"); n != 0 {
		t.Fatalf("search %% = %d", n)
	}
	if n := search("r_"); n != 0 {
		t.Fatalf("search r_ = %d", n)
	}
	if n := search("   "); n != 9 {
		t.Fatalf("blank search = %d", n)
	}
}

// Identity rate limits show on the key and are shared by all the
// identity's keys; a key config of the same name wins over the identity's.
func TestIdentityRatelimitsInVerify(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	api := ts.createAPI(t, ts.RootKey, "identity limits")
	ts.createIdentity(t, ts.RootKey, map[string]any{"externalId": "org_1", "ratelimits": []map[string]any{
		{"name": "shared", "limit": 3, "duration": 60000, "autoApply": true},
		{"name": "burst", "limit": 1, "duration": 60000, "autoApply": false}}})
	idA, keyA := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "externalId": "org_1"})
	_, keyB := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "externalId": "org_1",
		"ratelimits": []map[string]any{{"name": "burst", "limit": 100, "duration": 60000, "autoApply": false}}})

	var got struct {
		Identity identityOut `json:"identity"`
	}
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": idA}, &got)
	if len(got.Identity.Ratelimits) != 2 || got.Identity.Ratelimits[0].Name != "shared" {
		t.Fatalf("identity.ratelimits on the key = %+v", got.Identity.Ratelimits)
	}
	codes := []string{}
	for _, k := range []string{keyA, keyB, keyA, keyB} {
		codes = append(codes, ts.verify(t, ts.RootKey, map[string]any{"key": k}).Code)
	}
	if strings.Join(codes, ",") != "VALID,VALID,VALID,RATE_LIMITED" {
		t.Fatalf("shared identity limit of 3 across two keys: %v", codes)
	}
	// "burst": the identity's config (limit 1) for key A, key B's own (100) wins for B.
	ts.must(t, ts.RootKey, "identities.updateIdentity", map[string]any{"identity": "org_1", "ratelimits": []map[string]any{
		{"name": "burst", "limit": 1, "duration": 60000, "autoApply": false}}}, nil)
	for i, want := range []string{"VALID", "RATE_LIMITED"} {
		if c := ts.verify(t, ts.RootKey, map[string]any{"key": keyA, "ratelimits": []map[string]any{{"name": "burst"}}}).Code; c != want {
			t.Fatalf("key A burst #%d = %v, want %s", i, c, want)
		}
	}
	for range 3 {
		if c := ts.verify(t, ts.RootKey, map[string]any{"key": keyB, "ratelimits": []map[string]any{{"name": "burst"}}}).Code; c != "VALID" {
			t.Fatalf("key B's own burst config must win: %v", c)
		}
	}
}
