package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// remainingOf reads a key's balance through keys.getKey, failing the test on
// anything but a 200.
func (ts *testServer) remainingOf(t *testing.T, keyID string) int64 {
	t.Helper()
	var out struct {
		Credits *struct {
			Remaining *int64 `json:"remaining"`
		} `json:"credits"`
	}
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": keyID}, &out)
	if out.Credits == nil || out.Credits.Remaining == nil {
		t.Fatalf("getKey of %s has no remaining credits", keyID)
	}
	return *out.Credits.Remaining
}

// assertKeyReadable checks every read that once failed on a corrupted
// balance: getKey, verifyKey (without spending) and listKeys of the API.
func (ts *testServer) assertKeyReadable(t *testing.T, api, keyID, key string, want int64) {
	t.Helper()
	if got := ts.remainingOf(t, keyID); got != want {
		t.Fatalf("getKey remaining = %d, want %d", got, want)
	}
	v := ts.verify(t, ts.RootKey, map[string]any{"key": key, "credits": map[string]any{"cost": 0}})
	if !v.Valid || v.credits() != want {
		t.Fatalf("verifyKey = %v, want valid with %d credits", v, want)
	}
	var list []struct {
		KeyID   string `json:"keyId"`
		Credits *struct {
			Remaining *int64 `json:"remaining"`
		} `json:"credits"`
	}
	ts.must(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api}, &list)
	found := false
	for _, k := range list {
		if k.KeyID == keyID {
			found = true
			if k.Credits == nil || k.Credits.Remaining == nil || *k.Credits.Remaining != want {
				t.Fatalf("listKeys shows %s with credits %+v, want %d", keyID, k.Credits, want)
			}
		}
	}
	if !found {
		t.Fatalf("listKeys lacks %s", keyID)
	}
}

func replayAndCompare(t *testing.T, cfg *configs.Config) {
	t.Helper()
	before := dumpDatabase(t, cfg.Database.Primary)
	config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
	if out, errs, code := runProc(t, "replay", "--config", config); code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
	}
	assertSameRows(t, before, dumpDatabase(t, cfg.Database.Primary))
}

// Defect 4 of issue #11: an increment past MaxInt64 answered 500 and, on
// SQLite, committed its event and turned the balance into a REAL that no
// read could scan again. It is a 400 naming value, appends nothing, and the
// key stays readable, before and after a replay. The exact boundary works.
func TestCreditOverflowIsRefused(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		api := ts.createAPI(t, ts.RootKey, "credit overflow")
		keyID, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 500}})
		increment := func(by int64) (int, response) {
			return ts.call(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": keyID, "operation": "increment", "value": by})
		}
		refused := func(by int64, wantMax int64) {
			t.Helper()
			before := countRows(t, ts, "SELECT COUNT(*) FROM events")
			status, r := increment(by)
			expectError(t, status, r, 400, "unkey/application/invalid_input")
			if len(r.Error.Errors) != 1 || r.Error.Errors[0].Location != "/properties/value/maximum" ||
				r.Error.Errors[0].Message != fmt.Sprintf("maximum: got %d, want %d", by, wantMax) {
				t.Fatalf("increment by %d: errors %+v, want one at /properties/value/maximum", by, r.Error.Errors)
			}
			if after := countRows(t, ts, "SELECT COUNT(*) FROM events"); after != before {
				t.Fatalf("a refused increment appended %d events", after-before)
			}
		}

		refused(math.MaxInt64, math.MaxInt64-500)
		ts.assertKeyReadable(t, api, keyID, key, 500)
		refused(math.MaxInt64-499, math.MaxInt64-500)
		ts.assertKeyReadable(t, api, keyID, key, 500)

		// Up to MaxInt64 exactly is fine; one more is not.
		if status, r := increment(math.MaxInt64 - 500); status != 200 {
			t.Fatalf("increment to exactly MaxInt64: %d %+v", status, r.Error)
		}
		ts.assertKeyReadable(t, api, keyID, key, math.MaxInt64)
		refused(1, 0)
		// A set and a decrement at the ends of the range stay integers too.
		ts.must(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": keyID, "operation": "decrement", "value": int64(math.MaxInt64)}, nil)
		ts.assertKeyReadable(t, api, keyID, key, 0)
		ts.must(t, ts.RootKey, "keys.updateCredits", map[string]any{"keyId": keyID, "operation": "set", "value": int64(math.MaxInt64)}, nil)
		ts.assertKeyReadable(t, api, keyID, key, math.MaxInt64)
		// Beyond int64 the schema refuses the value itself.
		status, r := ts.raw(t, "keys.updateCredits", "Bearer "+ts.RootKey,
			[]byte(`{"keyId":"`+keyID+`","operation":"increment","value":9223372036854775808}`))
		expectError(t, status, r, 400, "unkey/application/invalid_input")
		if len(r.Error.Errors) != 1 || r.Error.Errors[0].Location != "/properties/value/format" {
			t.Fatalf("value 2^63: errors %+v, want one at /properties/value/format", r.Error.Errors)
		}

		replayAndCompare(t, cfg)
		ts.assertKeyReadable(t, api, keyID, key, math.MaxInt64)
	})
}

// A log written before the check above (or an increment racing a refill)
// may hold an increment past MaxInt64: the projection saturates instead of
// failing the append (PostgreSQL) or storing a REAL (SQLite), live and on
// replay.
func TestLoggedCreditOverflowSaturates(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		api := ts.createAPI(t, ts.RootKey, "logged overflow")
		keyID, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "credits": map[string]any{"remaining": 500}})
		ctx := context.Background()
		stream := events.KeyStreamID(keyID)
		recs, err := ts.Server.Store.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		first, err := recs[0].Decode()
		if err != nil {
			t.Fatal(err)
		}
		created, ok := first.(events.KeyCreated)
		if !ok {
			t.Fatalf("first event of %s is %T", stream, first)
		}
		if _, err := ts.Server.Store.Append(ctx, stream, recs[len(recs)-1].StreamVersion, events.Metadata{},
			events.KeyCreditsIncremented{KeyID: keyID, WorkspaceID: created.WorkspaceID, By: math.MaxInt64}); err != nil {
			t.Fatalf("appending an increment past MaxInt64: %v", err)
		}
		ts.assertKeyReadable(t, api, keyID, key, math.MaxInt64)
		replayAndCompare(t, cfg)
		ts.assertKeyReadable(t, api, keyID, key, math.MaxInt64)
	})
}

// Defect 5 of issue #11: a NUL in a name, identifier, namespace, externalId,
// search term or meta answered 500 (PostgreSQL refuses it in text and
// jsonb). Every such field is a 400 invalid_input naming it, on both
// stores, and the same body without the NUL is served, so each case reaches
// a real operation.
func TestNULIsRefusedWhereverItIs(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		root := ts.RootKey
		api := ts.createAPI(t, root, "nul target")
		keyID, key := ts.createKey(t, root, map[string]any{"apiId": api})
		ts.createIdentity(t, root, map[string]any{"externalId": "nul_identity"})
		ts.must(t, root, "ratelimit.limit", map[string]any{"namespace": "nul_ns", "identifier": "u", "limit": 10, "duration": 60000}, nil)

		rl := func(ns, id string) map[string]any {
			return map[string]any{"namespace": ns, "identifier": id, "limit": 10, "duration": 60000}
		}
		cases := []struct {
			name, op string
			body     func(v string) any
			location string
		}{
			{"api name", "apis.createApi", func(v string) any { return map[string]any{"name": "api " + v} }, "/properties/name"},
			{"key name", "keys.createKey", func(v string) any { return map[string]any{"apiId": api, "name": v} }, "/properties/name"},
			{"key externalId", "keys.createKey", func(v string) any { return map[string]any{"apiId": api, "externalId": v} }, "/properties/externalId"},
			{"key meta value", "keys.createKey", func(v string) any { return map[string]any{"apiId": api, "meta": map[string]any{"k": v}} }, "/properties/meta/properties/k"},
			{"key meta member name", "keys.createKey", func(v string) any { return map[string]any{"apiId": api, "meta": map[string]any{v: 1}} }, "/properties/meta/propertyNames"},
			{"key ratelimit name", "keys.createKey", func(v string) any {
				return map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"name": "rl" + v, "limit": 1, "duration": 1000, "autoApply": true}}}
			}, "/properties/ratelimits/items/properties/name"},
			{"updateKey name", "keys.updateKey", func(v string) any { return map[string]any{"keyId": keyID, "name": v} }, "/properties/name"},
			{"updateKey nested meta", "keys.updateKey", func(v string) any {
				return map[string]any{"keyId": keyID, "meta": map[string]any{"a": []any{map[string]any{"b": v}}}}
			}, "/properties/meta/properties/a/items/properties/b"},
			{"identity externalId", "identities.createIdentity", func(v string) any { return map[string]any{"externalId": v} }, "/properties/externalId"},
			{"identity meta", "identities.createIdentity", func(v string) any {
				return map[string]any{"externalId": "meta_" + strings.ReplaceAll(v, "\x00", "_"), "meta": map[string]any{"k": v}}
			}, "/properties/meta/properties/k"},
			{"updateIdentity meta", "identities.updateIdentity", func(v string) any {
				return map[string]any{"identity": "nul_identity", "meta": map[string]any{"k": v}}
			}, "/properties/meta/properties/k"},
			{"identities search", "identities.listIdentities", func(v string) any { return map[string]any{"search": v} }, "/properties/search"},
			{"listKeys externalId", "apis.listKeys", func(v string) any { return map[string]any{"apiId": api, "externalId": v} }, "/properties/externalId"},
			{"limit namespace", "ratelimit.limit", func(v string) any { return rl("ns"+v, "u") }, "/properties/namespace"},
			{"limit identifier", "ratelimit.limit", func(v string) any { return rl("nul_ns", v) }, "/properties/identifier"},
			{"multiLimit identifier", "ratelimit.multiLimit", func(v string) any { return []any{rl("nul_ns", "u"), rl("nul_ns", v)} }, "/items/properties/identifier"},
			{"override identifier", "ratelimit.setOverride", func(v string) any { return rl("nul_ns", v) }, "/properties/identifier"},
			{"override namespace", "ratelimit.listOverrides", func(v string) any { return map[string]any{"namespace": "nul_ns" + v} }, "/properties/namespace"},
			{"permission name", "permissions.createPermission", func(v string) any {
				return map[string]any{"name": v, "slug": "perm." + strings.ReplaceAll(v, "\x00", "_")}
			}, "/properties/name"},
			{"permission slug", "permissions.createPermission", func(v string) any { return map[string]any{"name": "p", "slug": v} }, "/properties/slug"},
			{"permission description", "permissions.createPermission", func(v string) any {
				return map[string]any{"name": "d", "slug": "desc." + strings.ReplaceAll(v, "\x00", "_"), "description": v}
			}, "/properties/description"},
			{"role name", "permissions.createRole", func(v string) any { return map[string]any{"name": v} }, "/properties/name"},
			{"permissions search", "permissions.listPermissions", func(v string) any { return map[string]any{"search": v} }, "/properties/search"},
			{"roles search", "permissions.listRoles", func(v string) any { return map[string]any{"search": v} }, "/properties/search"},
			{"verify key", "keys.verifyKey", func(v string) any { return map[string]any{"key": v} }, "/properties/key"},
			{"verify tags", "keys.verifyKey", func(v string) any { return map[string]any{"key": key, "tags": []string{v}} }, "/properties/tags/items"},
		}
		// The status of each body without its NUL, where it is not 200.
		control := map[string]int{"override namespace": 404}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				nul := fmt.Sprintf("x%d\x00y", i)
				body, err := json.Marshal(tc.body(nul))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(body), `\u0000`) {
					t.Fatalf("body %s carries no NUL", body)
				}
				status, r := ts.raw(t, tc.op, "Bearer "+root, body)
				expectError(t, status, r, 400, "unkey/application/invalid_input")
				found := false
				for _, e := range r.Error.Errors {
					found = found || (e.Location == tc.location && strings.Contains(e.Message, "NUL"))
				}
				if !found {
					t.Fatalf("%s: no NUL error at %s: %+v", body, tc.location, r.Error.Errors)
				}
				clean := strings.ReplaceAll(nul, "\x00", "_")
				if status, r := ts.call(t, root, tc.op, tc.body(clean)); status != cmp.Or(control[tc.name], 200) {
					t.Fatalf("the same body without the NUL: status %d, error %+v", status, r.Error)
				}
			})
		}
		// Nothing was half-stored: the server still reads everything.
		ts.must(t, root, "apis.listKeys", map[string]any{"apiId": api}, nil)
		ts.must(t, root, "identities.listIdentities", map[string]any{}, nil)
	})
}

// Defect 2 of issue #11 over HTTP: after 100 of 100 uses, a cost of
// MaxInt64 answered success and reopened the window. Huge limits, costs and
// durations in requests, overrides and key configs decide without
// overflowing and never answer 500.
func TestHugeRatelimitValuesOverHTTP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, sqliteConfig(t))
	root := ts.RootKey
	body := func(id string, limit, cost, duration int64) map[string]any {
		return map[string]any{"namespace": "huge", "identifier": id, "limit": limit, "duration": duration, "cost": cost}
	}
	for i := range 100 {
		if d := ts.limit(t, root, body("used", 100, 1, 60000)); !d.Success {
			t.Fatalf("request %d of 100 denied: %+v", i, d)
		}
	}
	if d := ts.limit(t, root, body("used", 100, math.MaxInt64, 60000)); d.Success || d.Remaining != 0 || d.Limit != 100 {
		t.Fatalf("cost MaxInt64 on a used-up window: %+v", d)
	}
	for i := range 20 {
		if d := ts.limit(t, root, body("used", 100, 1, 60000)); d.Success {
			t.Fatalf("request %d after the huge cost passed: %+v", i, d)
		}
	}
	if d := ts.limit(t, root, body("max", math.MaxInt64, math.MaxInt64, 60000)); !d.Success || d.Remaining != 0 || d.Limit != math.MaxInt64 {
		t.Fatalf("limit = cost = MaxInt64: %+v, want success with 0 left", d)
	}
	if d := ts.limit(t, root, body("max", math.MaxInt64, 1, 60000)); d.Success {
		t.Fatalf("after filling the window with MaxInt64: %+v", d)
	}

	// An override of MaxInt64 over MaxInt64 ms.
	ts.must(t, root, "ratelimit.setOverride", map[string]any{"namespace": "huge", "identifier": "vip",
		"limit": int64(math.MaxInt64), "duration": int64(math.MaxInt64)}, nil)
	if d := ts.limit(t, root, body("vip", 1, 1, 60000)); !d.Success || d.Limit != math.MaxInt64 {
		t.Fatalf("under a MaxInt64 override: %+v", d)
	}

	// Key and identity configs at the end of int64.
	api := ts.createAPI(t, root, "huge limits")
	ts.createIdentity(t, root, map[string]any{"externalId": "huge_owner",
		"ratelimits": []map[string]any{{"name": "ident", "limit": int64(math.MaxInt64), "duration": int64(math.MaxInt64), "autoApply": true}}})
	_, key := ts.createKey(t, root, map[string]any{"apiId": api, "externalId": "huge_owner",
		"ratelimits": []map[string]any{{"name": "tight", "limit": 2, "duration": int64(math.MaxInt64), "autoApply": true}}})
	for i, want := range []bool{true, true, false} {
		v := ts.verify(t, root, map[string]any{"key": key})
		if v.Valid != want {
			t.Fatalf("verification %d: %v, want valid=%v", i, v, want)
		}
	}
	// An identity's MaxInt64 limit takes one MaxInt64 cost and is then used
	// up, for every key of the identity.
	ts.createIdentity(t, root, map[string]any{"externalId": "huge_owner_2",
		"ratelimits": []map[string]any{{"name": "ident", "limit": int64(math.MaxInt64), "duration": 60000, "autoApply": true}}})
	_, other := ts.createKey(t, root, map[string]any{"apiId": api, "externalId": "huge_owner_2"})
	v := ts.verify(t, root, map[string]any{"key": other, "ratelimits": []map[string]any{{"name": "ident", "cost": int64(math.MaxInt64)}}})
	if !v.Valid {
		t.Fatalf("verification with a MaxInt64 cost against a MaxInt64 limit: %v", v)
	}
	if v := ts.verify(t, root, map[string]any{"key": other}); v.Valid || v.Code != "RATE_LIMITED" {
		t.Fatalf("verification after the identity's limit was filled: %v", v)
	}
}

// Raw invalid UTF-8 and unpaired surrogate escapes in meta reached
// PostgreSQL's jsonb as they were sent (the handlers keep meta as raw
// bytes) and answered 500; on SQLite they were stored and served back as
// invalid JSON text. They are a 400 naming the field on both stores.
func TestInvalidTextIsRefused(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		api := ts.createAPI(t, ts.RootKey, "text target")
		cases := []struct {
			name, op, body, location string
		}{
			{"key meta, invalid byte", "keys.createKey", `{"apiId":"` + api + `","meta":{"a":"` + "\xff" + `"}}`, "/properties/meta/properties/a"},
			{"key meta, lone surrogate", "keys.createKey", `{"apiId":"` + api + `","meta":{"a":"\ud800"}}`, "/properties/meta/properties/a"},
			{"key meta member name", "keys.createKey", `{"apiId":"` + api + `","meta":{"\udc00":1}}`, "/properties/meta/propertyNames"},
			{"identity meta", "identities.createIdentity", `{"externalId":"text_1","meta":{"a":"` + "\xc3" + `"}}`, "/properties/meta/properties/a"},
			{"key name", "keys.createKey", `{"apiId":"` + api + `","name":"\ud800"}`, "/properties/name"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, r := ts.raw(t, tc.op, "Bearer "+ts.RootKey, []byte(tc.body))
				expectError(t, status, r, 400, "unkey/application/invalid_input")
				if len(r.Error.Errors) != 1 || r.Error.Errors[0].Location != tc.location {
					t.Fatalf("errors %+v, want one at %s", r.Error.Errors, tc.location)
				}
			})
		}
		// Valid non-ASCII text and surrogate pairs are stored and served back.
		id, _ := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "meta": map[string]any{"a": "☃ 😀 \ufffd"}})
		var out struct {
			Meta map[string]string `json:"meta"`
		}
		ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": id}, &out)
		if out.Meta["a"] != "☃ 😀 \ufffd" {
			t.Fatalf("meta served back as %q", out.Meta["a"])
		}
		ts.must(t, ts.RootKey, "apis.listKeys", map[string]any{"apiId": api}, nil)
	})
}
