package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyline "github.com/keyline/keyline"
	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

type limitData struct {
	Success    bool   `json:"success"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	Reset      int64  `json:"reset"`
	OverrideID string `json:"overrideId"`
}

type overrideData struct {
	OverrideID string `json:"overrideId"`
	Duration   int64  `json:"duration"`
	Identifier string `json:"identifier"`
	Limit      int64  `json:"limit"`
}

// fieldsOf returns the sorted keys of a JSON object, to pin exact field names.
func fieldsOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("data %s is not an object: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m))
}

func (ts *testServer) limit(t *testing.T, key string, body map[string]any) limitData {
	t.Helper()
	var out limitData
	ts.must(t, key, "ratelimit.limit", body, &out)
	return out
}

func mintKeys(t *testing.T, cfg *configs.Config) func(perms ...string) string {
	t.Helper()
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return func(perms ...string) string {
		k, err := admin.MintRootKey(context.Background(), "default", perms)
		if err != nil {
			t.Fatal(err)
		}
		return k.RootKey
	}
}

func countRows(t *testing.T, ts *testServer, query string, args ...any) int {
	t.Helper()
	var n int
	if err := ts.Server.Store.DB().Primary.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRatelimitLimitAndOverrides(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	key := ts.RootKey
	const ns = "api.requests ☃ /:"

	before := time.Now().UnixMilli()
	status, r := ts.call(t, key, "ratelimit.limit", map[string]any{"namespace": ns, "identifier": "alice", "limit": 10, "duration": 60000})
	if status != 200 {
		t.Fatalf("limit: %d %+v", status, r.Error)
	}
	if got := fieldsOf(t, r.Data); !slices.Equal(got, []string{"limit", "remaining", "reset", "success"}) {
		t.Fatalf("limit fields = %v", got)
	}
	var first limitData
	_ = json.Unmarshal(r.Data, &first)
	if !first.Success || first.Limit != 10 || first.Remaining != 9 || first.Reset <= before || first.Reset%60000 != 0 {
		t.Fatalf("first limit = %+v", first)
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name = ?", ns); n != 1 {
		t.Fatalf("auto-created %d namespaces", n)
	}
	nsID := events.RatelimitNamespaceIDFor(events.WorkspaceIDForName("default"), ns)

	// Cost: absent means 1, 0 is a pure check, more than the limit fails.
	if d := ts.limit(t, key, map[string]any{"namespace": ns, "identifier": "alice", "limit": 10, "duration": 60000, "cost": 0}); !d.Success || d.Remaining != 9 {
		t.Fatalf("pure check = %+v", d)
	}
	if d := ts.limit(t, key, map[string]any{"namespace": nsID, "identifier": "alice", "limit": 10, "duration": 60000, "cost": 9}); !d.Success || d.Remaining != 0 {
		t.Fatalf("limit by namespace ID, cost 9 = %+v", d)
	}
	if d := ts.limit(t, key, map[string]any{"namespace": ns, "identifier": "alice", "limit": 10, "duration": 60000}); d.Success || d.Remaining != 0 {
		t.Fatalf("11th token = %+v", d)
	}
	// Another duration is another counter.
	if d := ts.limit(t, key, map[string]any{"namespace": ns, "identifier": "alice", "limit": 10, "duration": 30000}); !d.Success || d.Remaining != 9 {
		t.Fatalf("other duration = %+v", d)
	}

	// setOverride is an upsert returning the same ID.
	set := func(identifier string, limit, duration int64) string {
		t.Helper()
		status, r := ts.call(t, key, "ratelimit.setOverride", map[string]any{"namespace": ns, "identifier": identifier, "limit": limit, "duration": duration})
		if status != 200 || !slices.Equal(fieldsOf(t, r.Data), []string{"overrideId"}) {
			t.Fatalf("setOverride %s: %d %s %+v", identifier, status, r.Data, r.Error)
		}
		var out struct{ OverrideID string }
		_ = json.Unmarshal(r.Data, &out)
		if !strings.HasPrefix(out.OverrideID, "rlor_") {
			t.Fatalf("overrideId = %q", out.OverrideID)
		}
		return out.OverrideID
	}
	userWild := set("user_*", 1, 60000)
	if again := set("user_*", 2, 120000); again != userWild {
		t.Fatalf("second setOverride returned %s, want %s", again, userWild)
	}
	all := set("*", 5, 60000)
	exact := set("user_42", 3, 60000)
	adminWild := set("user_*_admin", 4, 60000)

	status, r = ts.call(t, key, "ratelimit.getOverride", map[string]any{"namespace": ns, "identifier": "user_7"})
	if status != 200 || !slices.Equal(fieldsOf(t, r.Data), []string{"duration", "identifier", "limit", "overrideId"}) {
		t.Fatalf("getOverride: %d %s", status, r.Data)
	}
	var got overrideData
	_ = json.Unmarshal(r.Data, &got)
	if got != (overrideData{OverrideID: userWild, Duration: 120000, Identifier: "user_*", Limit: 2}) {
		t.Fatalf("getOverride(user_7) = %+v (the updated wildcard)", got)
	}

	// Precedence: exact beats wildcards; the most specific wildcard wins.
	for id, want := range map[string]struct {
		override string
		limit    int64
	}{"user_42": {exact, 3}, "user_7": {userWild, 2}, "user_7_admin": {adminWild, 4}, "bob": {all, 5}} {
		d := ts.limit(t, key, map[string]any{"namespace": ns, "identifier": id, "limit": 1000, "duration": 1000})
		if d.OverrideID != want.override || d.Limit != want.limit || d.Remaining != want.limit-1 {
			t.Fatalf("limit(%s) = %+v, want override %s with limit %d", id, d, want.override, want.limit)
		}
	}
	status, r = ts.call(t, key, "ratelimit.limit", map[string]any{"namespace": ns, "identifier": "bob", "limit": 1, "duration": 1000})
	if status != 200 || !slices.Equal(fieldsOf(t, r.Data), []string{"limit", "overrideId", "remaining", "reset", "success"}) {
		t.Fatalf("limit with override: %d %s", status, r.Data)
	}

	// listOverrides pages in ID order; the cursor is the next page's first ID.
	ids := slices.Sorted(slices.Values([]string{userWild, all, exact, adminWild}))
	var page []overrideData
	status, r = ts.call(t, key, "ratelimit.listOverrides", map[string]any{"namespace": ns, "limit": 3})
	if status != 200 || r.Pagination == nil || !r.Pagination.HasMore || r.Pagination.Cursor != ids[3] {
		t.Fatalf("listOverrides page 1: %d %+v", status, r.Pagination)
	}
	_ = json.Unmarshal(r.Data, &page)
	if len(page) != 3 || page[0].OverrideID != ids[0] || page[2].OverrideID != ids[2] {
		t.Fatalf("page 1 = %+v", page)
	}
	status, r = ts.call(t, key, "ratelimit.listOverrides", map[string]any{"namespace": ns, "limit": 3, "cursor": r.Pagination.Cursor})
	_ = json.Unmarshal(r.Data, &page)
	if status != 200 || r.Pagination == nil || r.Pagination.HasMore || r.Pagination.Cursor != "" || len(page) != 1 || page[0].OverrideID != ids[3] {
		t.Fatalf("listOverrides page 2: %d %+v %+v", status, r.Pagination, page)
	}
	status, r = ts.call(t, key, "ratelimit.listOverrides", map[string]any{"namespace": nsID})
	_ = json.Unmarshal(r.Data, &page)
	if status != 200 || len(page) != 4 || r.Pagination.HasMore {
		t.Fatalf("listOverrides with the default limit: %d %d rows", status, len(page))
	}

	// deleteOverride needs the exact identifier.
	status, r = ts.call(t, key, "ratelimit.deleteOverride", map[string]any{"namespace": ns, "identifier": "user_7"})
	expectError(t, status, r, 404, "unkey/data/ratelimit_override_not_found")
	status, r = ts.call(t, key, "ratelimit.deleteOverride", map[string]any{"namespace": ns, "identifier": "user_42"})
	if status != 200 || string(r.Data) != "{}" {
		t.Fatalf("deleteOverride: %d %s", status, r.Data)
	}
	status, r = ts.call(t, key, "ratelimit.deleteOverride", map[string]any{"namespace": ns, "identifier": "user_42"})
	expectError(t, status, r, 404, "unkey/data/ratelimit_override_not_found")
	// Its own node sees the delete at once: user_42 now falls to user_*.
	if d := ts.limit(t, key, map[string]any{"namespace": ns, "identifier": "user_42", "limit": 1000, "duration": 1000}); d.OverrideID != userWild {
		t.Fatalf("after deleting the exact override: %+v", d)
	}
	status, r = ts.call(t, key, "ratelimit.getOverride", map[string]any{"namespace": ns, "identifier": "nobody"})
	if status != 200 {
		t.Fatalf("getOverride falls back to '*': %d", status)
	}
	ts.must(t, key, "ratelimit.deleteOverride", map[string]any{"namespace": ns, "identifier": "*"}, nil)
	status, r = ts.call(t, key, "ratelimit.getOverride", map[string]any{"namespace": ns, "identifier": "nobody"})
	expectError(t, status, r, 404, "unkey/data/ratelimit_override_not_found")

	// The override endpoints never auto-create.
	for _, op := range []string{"ratelimit.setOverride", "ratelimit.getOverride", "ratelimit.listOverrides", "ratelimit.deleteOverride"} {
		body := map[string]any{"namespace": "missing", "identifier": "x"}
		switch op {
		case "ratelimit.setOverride":
			body["limit"], body["duration"] = 1, 1000
		case "ratelimit.listOverrides":
			delete(body, "identifier")
		}
		status, r := ts.call(t, key, op, body)
		expectError(t, status, r, 404, "unkey/data/ratelimit_namespace_not_found")
		if r.Error.Detail != "This namespace does not exist." {
			t.Fatalf("%s detail = %q", op, r.Error.Detail)
		}
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name = 'missing'"); n != 0 {
		t.Fatal("an override endpoint created a namespace")
	}
}

func TestRatelimitMultiLimit(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	key := ts.RootKey
	check := func(ns, id string, limit, cost int64) map[string]any {
		return map[string]any{"namespace": ns, "identifier": id, "limit": limit, "duration": 60000, "cost": cost}
	}
	type multiData struct {
		Passed bool `json:"passed"`
		Limits []struct {
			Namespace, Identifier string
			Limit, Remaining      int64
			Reset                 int64
			Passed                bool
			OverrideID            string `json:"overrideId"`
		} `json:"limits"`
	}
	var out multiData
	status, r := ts.call(t, key, "ratelimit.multiLimit", []any{check("multi.a", "u", 5, 2), check("multi.b", "u", 1, 1)})
	if status != 200 || !slices.Equal(fieldsOf(t, r.Data), []string{"limits", "passed"}) {
		t.Fatalf("multiLimit: %d %s %+v", status, r.Data, r.Error)
	}
	var items []json.RawMessage
	var raw struct{ Limits []json.RawMessage }
	_ = json.Unmarshal(r.Data, &raw)
	items = raw.Limits
	if got := fieldsOf(t, items[0]); !slices.Equal(got, []string{"identifier", "limit", "namespace", "passed", "remaining", "reset"}) {
		t.Fatalf("multiLimit item fields = %v", got)
	}
	_ = json.Unmarshal(r.Data, &out)
	if !out.Passed || len(out.Limits) != 2 || out.Limits[0].Namespace != "multi.a" || out.Limits[0].Remaining != 3 ||
		out.Limits[1].Namespace != "multi.b" || out.Limits[1].Remaining != 0 {
		t.Fatalf("first multiLimit = %+v", out)
	}
	// b is exhausted: the batch fails, a reports its own pass with the cost
	// added back, and a's counter does not move.
	ts.must(t, key, "ratelimit.multiLimit", []any{check("multi.a", "u", 5, 2), check("multi.b", "u", 1, 1)}, &out)
	if out.Passed || !out.Limits[0].Passed || out.Limits[0].Remaining != 3 || out.Limits[1].Passed || out.Limits[1].Remaining != 0 {
		t.Fatalf("failed batch = %+v", out)
	}
	if d := ts.limit(t, key, check("multi.a", "u", 5, 2)); !d.Success || d.Remaining != 1 {
		t.Fatalf("a after the failed batch = %+v (nothing may have been consumed)", d)
	}
	// Results come back in request order, namespaces as sent (name or ID).
	idB := events.RatelimitNamespaceIDFor(events.WorkspaceIDForName("default"), "multi.b")
	ts.must(t, key, "ratelimit.multiLimit", []any{check(idB, "v", 3, 1), check("multi.c", "w", 3, 0), check("multi.a", "z", 3, 1)}, &out)
	if !out.Passed || out.Limits[0].Namespace != idB || out.Limits[1].Identifier != "w" || out.Limits[1].Remaining != 3 || out.Limits[2].Identifier != "z" {
		t.Fatalf("ordered batch = %+v", out)
	}
	// A new namespace named three times is created once, and two checks of
	// the batch on one counter see each other's cost.
	ts.must(t, key, "ratelimit.multiLimit", []any{check("multi.new", "u", 5, 2), check("multi.new", "u", 5, 2), check("multi.new", "v", 5, 1)}, &out)
	if !out.Passed || out.Limits[0].Remaining != 3 || out.Limits[1].Remaining != 1 || out.Limits[2].Remaining != 4 {
		t.Fatalf("batch on a new namespace named three times = %+v", out)
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name = 'multi.new'"); n != 1 {
		t.Fatalf("namespace rows named multi.new = %d, want 1", n)
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM events WHERE name = 'ratelimit_namespace.created' AND stream_id = '"+
		events.RatelimitNamespaceStreamID(events.RatelimitNamespaceIDFor(events.WorkspaceIDForName("default"), "multi.new"))+"'"); n != 1 {
		t.Fatalf("ratelimit_namespace.created events for multi.new = %d, want 1", n)
	}
	status, r = ts.call(t, key, "ratelimit.multiLimit", []any{})
	expectError(t, status, r, 400, "unkey/application/invalid_input")
}

func TestRatelimitPermissions(t *testing.T) {
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	mint := mintKeys(t, cfg)
	ws := events.WorkspaceIDForName("default")
	ts.limit(t, ts.RootKey, map[string]any{"namespace": "existing", "identifier": "x", "limit": 5, "duration": 1000})
	existing := events.RatelimitNamespaceIDFor(ws, "existing")
	body := func(ns string) map[string]any {
		return map[string]any{"namespace": ns, "identifier": "x", "limit": 5, "duration": 1000}
	}

	limitOnly := mint("ratelimit.*.limit")
	ts.limit(t, limitOnly, body("existing"))
	status, r := ts.call(t, limitOnly, "ratelimit.limit", body("brand-new"))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if r.Error.Detail != "Missing permission: 'ratelimit.*.create_namespace'" {
		t.Fatalf("detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, limitOnly, "ratelimit.multiLimit", []any{body("existing"), body("brand-new-2")})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	// create_namespace without any limit permission creates nothing either.
	createOnly := mint("ratelimit.*.create_namespace")
	status, r = ts.call(t, createOnly, "ratelimit.limit", body("brand-new"))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if n := countRows(t, ts, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name LIKE 'brand-new%'"); n != 0 {
		t.Fatalf("refused requests created %d namespaces", n)
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM events WHERE name = 'ratelimit_namespace.created'"); n != 1 {
		t.Fatalf("%d namespace creations in the log, want 1", n)
	}
	creator := mint("ratelimit.*.create_namespace", "ratelimit.*.limit")
	ts.limit(t, creator, body("brand-new"))

	// Per-namespace grants: limit works there only; multiLimit needs all.
	scoped := mint("ratelimit." + existing + ".limit")
	ts.limit(t, scoped, body("existing"))
	ts.limit(t, scoped, body(existing))
	status, r = ts.call(t, scoped, "ratelimit.limit", body("brand-new"))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	status, r = ts.call(t, scoped, "ratelimit.multiLimit", []any{body("existing"), body("brand-new")})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	ts.must(t, scoped, "ratelimit.multiLimit", []any{body("existing"), body(existing)}, nil)
	// "*" alone is a literal and grants nothing.
	status, r = ts.call(t, mint("*"), "ratelimit.limit", body("existing"))
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")

	// Override endpoints: namespace lookup first, then authorization.
	ts.must(t, ts.RootKey, "ratelimit.setOverride", map[string]any{"namespace": "existing", "identifier": "vip", "limit": 1, "duration": 1000}, nil)
	nothing := mint("api.*.read_api")
	status, r = ts.call(t, nothing, "ratelimit.setOverride", map[string]any{"namespace": "nope", "identifier": "vip", "limit": 1, "duration": 1000})
	expectError(t, status, r, 404, "unkey/data/ratelimit_namespace_not_found")
	status, r = ts.call(t, nothing, "ratelimit.setOverride", map[string]any{"namespace": "existing", "identifier": "vip", "limit": 1, "duration": 1000})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	if r.Error.Detail != "Missing one of these permissions: ratelimit.*.set_override or ratelimit."+existing+".set_override" {
		t.Fatalf("setOverride 403 detail = %q", r.Error.Detail)
	}
	status, r = ts.call(t, nothing, "ratelimit.listOverrides", map[string]any{"namespace": "existing"})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	status, r = ts.call(t, nothing, "ratelimit.deleteOverride", map[string]any{"namespace": "existing", "identifier": "vip"})
	expectError(t, status, r, 403, "unkey/authorization/insufficient_permissions")
	// getOverride masks a missing permission as the override's 404.
	status, masked := ts.call(t, nothing, "ratelimit.getOverride", map[string]any{"namespace": "existing", "identifier": "vip"})
	expectError(t, status, masked, 404, "unkey/data/ratelimit_override_not_found")
	status, real := ts.call(t, ts.RootKey, "ratelimit.getOverride", map[string]any{"namespace": "existing", "identifier": "nobody"})
	expectError(t, status, real, 404, "unkey/data/ratelimit_override_not_found")
	if masked.Error.Detail != real.Error.Detail || masked.Error.Title != real.Error.Title {
		t.Fatalf("masked 404 %+v differs from a real one %+v", masked.Error, real.Error)
	}
	scopedReader := mint("ratelimit." + existing + ".read_override")
	ts.must(t, scopedReader, "ratelimit.getOverride", map[string]any{"namespace": "existing", "identifier": "vip"}, nil)
	ts.must(t, scopedReader, "ratelimit.listOverrides", map[string]any{"namespace": "existing"}, nil)
	ts.must(t, mint("ratelimit."+existing+".set_override"), "ratelimit.setOverride", map[string]any{"namespace": existing, "identifier": "vip", "limit": 2, "duration": 1000}, nil)
	ts.must(t, mint("ratelimit.*.delete_override"), "ratelimit.deleteOverride", map[string]any{"namespace": "existing", "identifier": "vip"}, nil)

	// Another workspace sees none of it and creates its own namespace.
	admin, cleanup, err := keyline.InitializeAdmin(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	other, err := admin.MintRootKey(context.Background(), "workspace-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	status, r = ts.call(t, other.RootKey, "ratelimit.listOverrides", map[string]any{"namespace": existing})
	expectError(t, status, r, 404, "unkey/data/ratelimit_namespace_not_found")
	if d := ts.limit(t, other.RootKey, body("existing")); !d.Success || d.Remaining != 4 {
		t.Fatalf("workspace B's own 'existing' = %+v", d)
	}
}

func TestRatelimitDeletedNamespaceIsGone(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	key := ts.RootKey
	body := map[string]any{"namespace": "doomed", "identifier": "x", "limit": 5, "duration": 1000}
	ts.limit(t, key, body)
	ts.must(t, key, "ratelimit.setOverride", map[string]any{"namespace": "doomed", "identifier": "x", "limit": 1, "duration": 1000}, nil)

	// No endpoint deletes namespaces yet; append the event as one would.
	id := events.RatelimitNamespaceIDFor(events.WorkspaceIDForName("default"), "doomed")
	var ns events.RatelimitNamespace
	recs, err := ts.Server.Store.Load(context.Background(), events.RatelimitNamespaceStreamID(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e, _ := r.Decode()
		ns.Apply(e)
	}
	decided, err := ns.Delete(ns.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Server.Store.Append(context.Background(), events.RatelimitNamespaceStreamID(id), ns.Version, events.Metadata{}, decided...); err != nil {
		t.Fatal(err)
	}

	// The cached namespace was dropped at commit: the very next request is 410.
	for _, ref := range []string{"doomed", id} {
		body["namespace"] = ref
		status, r := ts.call(t, key, "ratelimit.limit", body)
		expectError(t, status, r, 410, "unkey/data/ratelimit_namespace_gone")
		if r.Error.Title != "Resource Gone" || r.Error.Detail != "This namespace has been deleted. Contact support to restore." {
			t.Fatalf("410 = %+v", r.Error)
		}
		status, r = ts.call(t, key, "ratelimit.multiLimit", []any{map[string]any{"namespace": "fresh", "identifier": "x", "limit": 5, "duration": 1000}, body})
		expectError(t, status, r, 410, "unkey/data/ratelimit_namespace_gone")
		status, r = ts.call(t, key, "ratelimit.getOverride", map[string]any{"namespace": ref, "identifier": "x"})
		expectError(t, status, r, 404, "unkey/data/ratelimit_namespace_not_found")
	}
	if n := countRows(t, ts, "SELECT COUNT(*) FROM ratelimit_namespaces WHERE name = 'fresh'"); n != 0 {
		t.Fatal("a multiLimit answered 410 still created its other namespace")
	}
}

// burst sends total limit requests from clients goroutines, client i to
// servers[i % len(servers)], and returns how many passed per window (by the
// reset each answer carries).
func burst(t *testing.T, servers []*testServer, key string, clients, total int, body map[string]any) map[int64]int {
	t.Helper()
	var mu sync.Mutex
	passed := map[int64]int{}
	resets := map[int64]bool{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := servers[c%len(servers)]
			for i := c; i < total; i += clients {
				status, r := ts.call(t, key, "ratelimit.limit", body)
				if status != 200 {
					t.Errorf("client %d: status %d %+v", c, status, r.Error)
					return
				}
				var d limitData
				_ = json.Unmarshal(r.Data, &d)
				mu.Lock()
				resets[d.Reset] = true
				if d.Success {
					passed[d.Reset]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for r := range resets {
		if _, ok := passed[r]; !ok {
			passed[r] = 0
		}
	}
	return passed
}

// exactlyOnce runs a burst and asserts exactly want admissions. A burst that
// happens to straddle a window boundary (the previous window then weighs in
// with a fraction) is run again on a fresh identifier: the assertion is
// about one window, not about where the wall clock is.
func exactlyOnce(t *testing.T, servers []*testServer, key string, clients, total int, want int, body map[string]any) {
	t.Helper()
	for attempt := range 2 {
		body["identifier"] = fmt.Sprintf("hot-%d-%d", time.Now().UnixNano(), attempt)
		start := time.Now()
		passed := burst(t, servers, key, clients, total, body)
		if len(passed) > 1 {
			t.Logf("burst straddled a window boundary (%v); again", passed)
			continue
		}
		for _, n := range passed {
			t.Logf("%d clients, %d requests over %d server(s) in %s: %d admitted", clients, total, len(servers), time.Since(start).Round(time.Millisecond), n)
			if n != want {
				t.Fatalf("admitted %d, want exactly %d", n, want)
			}
		}
		return
	}
	t.Fatal("two bursts in a row straddled a window boundary")
}

// One node, memory counters, 200 concurrent clients on one identifier with a
// limit of 1000: exactly 1000 admitted. The window is ten minutes so that a
// burst slowed down by a loaded machine (2000 requests under -race can take
// well over ten seconds) does not cross a window boundary.
func TestRatelimitAccuracyMemory(t *testing.T) {
	ts := startServer(t, sqliteConfig(t))
	ts.limit(t, ts.RootKey, map[string]any{"namespace": "accuracy", "identifier": "warmup", "limit": 1, "duration": 1000})
	exactlyOnce(t, []*testServer{ts}, ts.RootKey, 200, 2000, 1000,
		map[string]any{"namespace": "accuracy", "limit": 1000, "duration": 600000, "cost": 1})
}
