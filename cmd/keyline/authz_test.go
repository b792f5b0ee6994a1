package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/testenv"
)

// authzRow is one endpoint of the Done-means table: it succeeds with exactly
// perms and, with any one of them taken away, fails with status/errType
// (403, or the masked 404 the reference prescribes).
type authzRow struct {
	op      string
	perms   []string
	body    func(t *testing.T) map[string]any // fresh resources for the call
	status  int
	errType string
	// verifyKey answers 200 either way; its failure is {valid:false, code:NOT_FOUND}.
	verify bool
	// without, when set, is the answer without perms[i] instead of
	// status/errType (portal.createSession: its portal grant missing is a
	// 404, a scope's grant missing a 403).
	without []authzOutcome
}

type authzOutcome struct {
	status  int
	errType string
}

// TestEndpointPermissions: one row per core endpoint, the permissions of
// the reference's table of root-key permissions, and what one less does.
func TestEndpointPermissions(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	// The analytics rows need a ClickHouse to answer 200 with their grant.
	cfg.ClickHouse = &configs.ClickHouse{URL: testenv.FreshClickHouseDatabase(t)}
	cfg.Migrations = []configs.Migration{{ID: "authz_mig", Algorithm: configs.MigrationPrefixedAPIKey}}
	ts := startServer(t, cfg)
	mint := mintKeys(t, cfg)
	root := ts.RootKey
	var n atomic.Int64
	uniq := func(prefix string) string { return fmt.Sprintf("%s_%d", prefix, n.Add(1)) }

	api := ts.createAPI(t, root, "authz table")
	newKey := func(t *testing.T) (string, string) {
		return ts.createKey(t, root, map[string]any{"apiId": api, "permissions": []string{"authz.p"}, "roles": []string{"authz_role"}})
	}
	ts.createPermission(t, root, "authz.p")
	ts.createRole(t, root, "authz_role")
	identity := ts.createIdentity(t, root, map[string]any{"externalId": "authz_user"})
	ts.limit(t, root, map[string]any{"namespace": "authz_ns", "identifier": "x", "limit": 5, "duration": 60000})
	ts.must(t, root, "ratelimit.setOverride", map[string]any{"namespace": "authz_ns", "identifier": "u1", "limit": 5, "duration": 60000}, nil)

	keyID := func(t *testing.T) map[string]any { id, _ := newKey(t); return map[string]any{"keyId": id} }
	const insufficient = "unkey/authorization/insufficient_permissions"
	served := map[string]bool{}
	rows := []authzRow{
		{op: "apis.createApi", perms: []string{"api.*.create_api"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"name": "created"} }},
		{op: "apis.getApi", perms: []string{"api.*.read_api"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"apiId": api} }},
		{op: "apis.deleteApi", perms: []string{"api.*.delete_api"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { return map[string]any{"apiId": ts.createAPI(t, root, "doomed")} }},
		{op: "apis.listKeys", perms: []string{"api.*.read_key", "api.*.read_api"}, status: 404, errType: "unkey/data/api_not_found",
			body: func(*testing.T) map[string]any { return map[string]any{"apiId": api} }},

		{op: "keys.createKey", perms: []string{"api.*.create_key"}, status: 404, errType: "unkey/data/api_not_found",
			body: func(*testing.T) map[string]any { return map[string]any{"apiId": api} }},
		{op: "keys.getKey", perms: []string{"api.*.read_key"}, status: 403, errType: insufficient, body: keyID},
		{op: "keys.whoami", perms: []string{"api.*.read_key"}, status: 404, errType: "unkey/data/key_not_found",
			body: func(t *testing.T) map[string]any { _, k := newKey(t); return map[string]any{"key": k} }},
		{op: "keys.updateKey", perms: []string{"api.*.update_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["name"] = "renamed"; return b }},
		{op: "keys.updateCredits", perms: []string{"api.*.update_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["operation"], b["value"] = "set", 5; return b }},
		{op: "keys.deleteKey", perms: []string{"api.*.delete_key"}, status: 403, errType: insufficient, body: keyID},
		{op: "keys.verifyKey", perms: []string{"api.*.verify_key"}, verify: true,
			body: func(t *testing.T) map[string]any { _, k := newKey(t); return map[string]any{"key": k} }},
		{op: "keys.rerollKey", perms: []string{"api.*.create_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["expiration"] = 0; return b }},
		{op: "keys.migrateKeys", perms: []string{"api.*.create_key"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"migrationId": "authz_mig", "apiId": api, "keys": []map[string]any{{"hash": uniq("deadbeef")}}}
			}},
		{op: "keys.addPermissions", perms: []string{"api.*.update_key", "rbac.*.add_permission_to_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["permissions"] = []string{"authz.p"}; return b }},
		{op: "keys.removePermissions", perms: []string{"api.*.update_key", "rbac.*.remove_permission_from_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["permissions"] = []string{"authz.p"}; return b }},
		{op: "keys.setPermissions", perms: []string{"api.*.update_key", "rbac.*.add_permission_to_key", "rbac.*.remove_permission_from_key"},
			status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["permissions"] = []string{}; return b }},
		{op: "keys.addRoles", perms: []string{"api.*.update_key", "rbac.*.add_role_to_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["roles"] = []string{"authz_role"}; return b }},
		{op: "keys.removeRoles", perms: []string{"api.*.update_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["roles"] = []string{"authz_role"}; return b }},
		{op: "keys.setRoles", perms: []string{"api.*.update_key"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { b := keyID(t); b["roles"] = []string{}; return b }},

		{op: "identities.createIdentity", perms: []string{"identity.*.create_identity"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"externalId": uniq("ext")} }},
		{op: "identities.getIdentity", perms: []string{"identity.*.read_identity"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"identity": identity} }},
		{op: "identities.listIdentities", perms: []string{"identity.*.read_identity"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{} }},
		{op: "identities.updateIdentity", perms: []string{"identity.*.update_identity"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"identity": identity, "meta": map[string]any{"a": 1}}
			}},
		{op: "identities.deleteIdentity", perms: []string{"identity.*.delete_identity"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any {
				return map[string]any{"identity": ts.createIdentity(t, root, map[string]any{"externalId": uniq("doomed")})}
			}},

		{op: "permissions.createPermission", perms: []string{"rbac.*.create_permission"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { s := uniq("p"); return map[string]any{"slug": s, "name": s} }},
		{op: "permissions.getPermission", perms: []string{"rbac.*.read_permission"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"permission": "authz.p"} }},
		{op: "permissions.listPermissions", perms: []string{"rbac.*.read_permission"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{} }},
		{op: "permissions.deletePermission", perms: []string{"rbac.*.delete_permission"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any {
				return map[string]any{"permission": ts.createPermission(t, root, uniq("doomed"))}
			}},
		// with a slug that does not exist yet: create_permission is needed too
		{op: "permissions.createRole", perms: []string{"rbac.*.create_role", "rbac.*.add_permission_to_role", "rbac.*.create_permission"},
			status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"name": uniq("role"), "permissions": []string{"authz.p", uniq("fresh")}}
			}},
		{op: "permissions.getRole", perms: []string{"rbac.*.read_role"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"role": "authz_role"} }},
		{op: "permissions.listRoles", perms: []string{"rbac.*.read_role"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{} }},
		{op: "permissions.deleteRole", perms: []string{"rbac.*.delete_role"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any {
				return map[string]any{"role": ts.createRole(t, root, uniq("doomed"))}
			}},
		{op: "permissions.setRolePermissions",
			perms:  []string{"rbac.*.add_permission_to_role", "rbac.*.remove_permission_from_role", "rbac.*.create_permission"},
			status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any {
				return map[string]any{"roleId": ts.createRole(t, root, uniq("role")), "permissions": []string{uniq("fresh")}}
			}},

		// an unknown namespace: create_namespace to auto-create it, limit to use it
		{op: "ratelimit.limit", perms: []string{"ratelimit.*.create_namespace", "ratelimit.*.limit"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"namespace": uniq("ns"), "identifier": "u", "limit": 5, "duration": 60000}
			}},
		{op: "ratelimit.multiLimit", perms: []string{"ratelimit.*.create_namespace", "ratelimit.*.limit"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"__array": []map[string]any{
					{"namespace": uniq("ns"), "identifier": "u", "limit": 5, "duration": 60000},
					{"namespace": "authz_ns", "identifier": "u", "limit": 5, "duration": 60000}}}
			}},
		{op: "ratelimit.setOverride", perms: []string{"ratelimit.*.set_override"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"namespace": "authz_ns", "identifier": uniq("id"), "limit": 1, "duration": 1000}
			}},
		{op: "ratelimit.getOverride", perms: []string{"ratelimit.*.read_override"}, status: 404, errType: "unkey/data/ratelimit_override_not_found",
			body: func(*testing.T) map[string]any { return map[string]any{"namespace": "authz_ns", "identifier": "u1"} }},
		{op: "ratelimit.listOverrides", perms: []string{"ratelimit.*.read_override"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"namespace": "authz_ns"} }},
		{op: "ratelimit.deleteOverride", perms: []string{"ratelimit.*.delete_override"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any {
				id := uniq("id")
				ts.must(t, root, "ratelimit.setOverride", map[string]any{"namespace": "authz_ns", "identifier": id, "limit": 1, "duration": 1000}, nil)
				return map[string]any{"namespace": "authz_ns", "identifier": id}
			}},

		{op: "analytics.getVerifications", perms: []string{"api.*.read_analytics"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any {
				return map[string]any{"query": "SELECT count() FROM key_verifications_v1"}
			}},
		{op: "analytics.getRatelimits", perms: []string{"ratelimit.*.read_analytics"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"query": "SELECT count() FROM ratelimits_v1"} }},

		{op: "portal.createSession", perms: []string{"portal.*.create_portal_session", "api.*.read_key", "api.*.read_api", "api.*.create_key", "api.*.read_analytics"},
			without: []authzOutcome{{404, "unkey/data/portal_not_found"}, {403, insufficient}, {403, insufficient}, {403, insufficient}, {403, insufficient}},
			body: func(t *testing.T) map[string]any {
				return map[string]any{"portal": portalFor(t, cfg, api), "externalId": "authz_user",
					"scopes": []string{"keys:read", "keys:reroll", "analytics:read"}}
			}},

		// keyline's own console operations: not in the OpenAPI document, so
		// the loop below does not ask for them; their rows are here all the same.
		{op: "keyline.listPortals", perms: []string{"portal.*.read_portal"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{} }},
		{op: "keyline.createPortal", perms: []string{"portal.*.create_portal", "api.*.read_api"},
			without: []authzOutcome{{403, insufficient}, {404, "unkey/data/api_not_found"}},
			body: func(*testing.T) map[string]any {
				return map[string]any{"name": uniq("portal"), "apiIds": []string{api}}
			}},
		{op: "keyline.deletePortal", perms: []string{"portal.*.delete_portal"}, status: 403, errType: insufficient,
			body: func(t *testing.T) map[string]any { return map[string]any{"portalId": portalFor(t, cfg, api)} }},
		{op: "keyline.listAuditLogs", perms: []string{"workspace.*.read_audit_log"}, status: 403, errType: insufficient,
			body: func(*testing.T) map[string]any { return map[string]any{"limit": 5} }},
	}
	// The portal session routes take no root key: their permissions are the
	// session's scopes, in TestPortalSessionPermissions.
	for _, op := range portalSessionOps {
		served[op] = true
	}
	for _, row := range rows {
		served[row.op] = true
		t.Run(row.op, func(t *testing.T) {
			body := row.body(t)
			var payload any = body
			if arr, ok := body["__array"]; ok {
				payload = arr
			}
			for i := range row.perms {
				less := slices.Delete(slices.Clone(row.perms), i, i+1)
				if len(less) == 0 {
					less = []string{"api.none.read_api"} // an empty list would mint every permission
				}
				status, r := ts.call(t, mint(less...), row.op, payload)
				if row.verify {
					if status != 200 || string(r.Data) != `{"valid":false,"code":"NOT_FOUND"}` {
						t.Fatalf("without %s: %d %s", row.perms[i], status, r.Data)
					}
					continue
				}
				want := authzOutcome{row.status, row.errType}
				if row.without != nil {
					want = row.without[i]
				}
				if status != want.status || r.Error == nil || r.Error.Type != "https://unkey.com/docs/errors/"+want.errType {
					t.Fatalf("without %s: status %d error %+v, want %d %s", row.perms[i], status, r.Error, want.status, want.errType)
				}
				// A 403 names the missing grant.
				if status == 403 && !strings.Contains(r.Error.Detail, row.perms[i]) {
					t.Fatalf("without %s: 403 detail %q does not name it", row.perms[i], r.Error.Detail)
				}
			}
			status, r := ts.call(t, mint(row.perms...), row.op, payload)
			if status != 200 {
				t.Fatalf("with exactly %v: status %d error %+v", row.perms, status, r.Error)
			}
			if row.verify && !strings.Contains(string(r.Data), `"code":"VALID"`) {
				t.Fatalf("with exactly %v: %s", row.perms, r.Data)
			}
		})
	}
	// Every served operation except liveness has a row.
	for _, op := range servedOperations(t, ts) {
		if !served[op] {
			t.Errorf("%s has no row in the permission table", op)
		}
	}
}

// servedOperations lists the operations /openapi.yaml describes.
func servedOperations(t *testing.T, ts *testServer) []string {
	t.Helper()
	_, spec := ts.get(t, "/openapi.yaml")
	var out []string
	for _, line := range strings.Split(string(spec), "\n") {
		if strings.HasPrefix(line, "  /v2/") && strings.HasSuffix(line, ":") {
			op := strings.TrimSuffix(strings.TrimPrefix(line, "  /v2/"), ":")
			if op != "liveness" {
				out = append(out, op)
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d operations in openapi.yaml", len(out))
	}
	return out
}

// Resource permissions (URNs) where the reference accepts them: exact,
// one-segment "*", trailing "**", the admin grant, and the workspace match.
func TestURNGrants(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	mint := mintKeys(t, cfg)
	root := ts.RootKey
	ws := events.WorkspaceIDForName("default")
	other := events.WorkspaceIDForName("elsewhere")
	api := ts.createAPI(t, root, "urn")
	var ks string
	if err := ts.Server.Store.DB().Primary.QueryRowContext(context.Background(), "SELECT key_space_id FROM apis WHERE id = ?", api).Scan(&ks); err != nil {
		t.Fatal(err)
	}
	keyID, key := ts.createKey(t, root, map[string]any{"apiId": api})
	otherKeyID, _ := ts.createKey(t, root, map[string]any{"apiId": api})
	urn := func(ws, path, action string) string { return "unkey:v1:" + ws + ":" + path + "#" + action }

	for _, tc := range []struct {
		name  string
		grant []string
		op    string
		body  map[string]any
		ok    bool
	}{
		{"getKey exact key", []string{urn(ws, "keyspaces/"+ks+"/keys/"+keyID, "read_key")}, "keys.getKey", map[string]any{"keyId": keyID}, true},
		{"getKey other key", []string{urn(ws, "keyspaces/"+ks+"/keys/"+keyID, "read_key")}, "keys.getKey", map[string]any{"keyId": otherKeyID}, false},
		{"getKey any key of the keyspace", []string{urn(ws, "keyspaces/"+ks+"/keys/*", "read_key")}, "keys.getKey", map[string]any{"keyId": otherKeyID}, true},
		{"getKey keyspace and below", []string{urn(ws, "keyspaces/"+ks+"/**", "read_key")}, "keys.getKey", map[string]any{"keyId": keyID}, true},
		{"getKey admin grant", []string{urn(ws, "**", "*")}, "keys.getKey", map[string]any{"keyId": keyID}, true},
		{"getKey admin grant of another workspace", []string{urn(other, "**", "*")}, "keys.getKey", map[string]any{"keyId": keyID}, false},
		{"getKey wrong action", []string{urn(ws, "**", "verify_key")}, "keys.getKey", map[string]any{"keyId": keyID}, false},
		{"createKey on the keyspace", []string{urn(ws, "keyspaces/"+ks, "create_key")}, "keys.createKey", map[string]any{"apiId": api}, true},
		{"createKey on a key path", []string{urn(ws, "keyspaces/"+ks+"/keys/*", "create_key")}, "keys.createKey", map[string]any{"apiId": api}, false},
		{"listKeys needs both legs", []string{urn(ws, "keyspaces/"+ks+"/keys/*", "read_key"), urn(ws, "keyspaces/"+ks, "read_keyspace")},
			"apis.listKeys", map[string]any{"apiId": api}, true},
		{"listKeys with one leg", []string{urn(ws, "keyspaces/"+ks+"/keys/*", "read_key")}, "apis.listKeys", map[string]any{"apiId": api}, false},
		{"setPermissions with update_key alone", []string{urn(ws, "keyspaces/*/keys/*", "update_key")}, "keys.setPermissions",
			map[string]any{"keyId": keyID, "permissions": []string{}}, true},
		{"createIdentity", []string{urn(ws, "projects/*/identities/*", "create_identity")}, "identities.createIdentity",
			map[string]any{"externalId": "urn_user"}, true},
		{"rbac endpoints take tuples only", []string{urn(ws, "**", "*")}, "permissions.listPermissions", map[string]any{}, false},
		{"apis.getApi takes tuples only", []string{urn(ws, "**", "*")}, "apis.getApi", map[string]any{"apiId": api}, false},
		{"a tuple's * is literal", []string{"*"}, "keys.getKey", map[string]any{"keyId": keyID}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r := ts.call(t, mint(tc.grant...), tc.op, tc.body)
			if (status == 200) != tc.ok {
				t.Fatalf("%v on %s: status %d error %+v", tc.grant, tc.op, status, r.Error)
			}
		})
	}
	// verifyKey: a URN on the key, or the whole keyspace; anything else is NOT_FOUND.
	for grant, want := range map[string]string{
		urn(ws, "keyspaces/"+ks+"/keys/"+keyID, "verify_key"):      "VALID",
		urn(ws, "keyspaces/"+ks+"/keys/*", "verify_key"):           "VALID",
		urn(ws, "keyspaces/"+ks+"/keys/"+otherKeyID, "verify_key"): "NOT_FOUND",
		urn(other, "keyspaces/"+ks+"/keys/*", "verify_key"):        "NOT_FOUND",
	} {
		if got := ts.verify(t, mint(grant), map[string]any{"key": key}).Code; got != want {
			t.Errorf("verify with %s = %v, want %s", grant, got, want)
		}
	}
}

// Every get/list/update/delete endpoint that takes an ID,
// called with workspace B's all-powerful root key on workspace A's
// resources, answers 404 or an empty list, and changes nothing.
func TestCrossWorkspaceNoLeak(t *testing.T) {
	t.Parallel()
	cfg := sqliteConfig(t)
	ts := startServer(t, cfg)
	a := ts.RootKey
	b := mintRootKey(t, cfg, "workspace-b")
	api := ts.createAPI(t, a, "A's api")
	keyID, key := ts.createKey(t, a, map[string]any{"apiId": api, "externalId": "a_user", "permissions": []string{"a.perm"}})
	identity := ts.createIdentity(t, a, map[string]any{"externalId": "a_identity"})
	perm := ts.createPermission(t, a, "a.only")
	role := ts.createRole(t, a, "a_role", "a.only")
	ts.limit(t, a, map[string]any{"namespace": "a_ns", "identifier": "u", "limit": 5, "duration": 60000})
	var override struct {
		OverrideID string `json:"overrideId"`
	}
	ts.must(t, a, "ratelimit.setOverride", map[string]any{"namespace": "a_ns", "identifier": "u1", "limit": 5, "duration": 60000}, &override)
	var ns string
	if err := ts.Server.Store.DB().Primary.QueryRowContext(context.Background(), "SELECT id FROM ratelimit_namespaces WHERE name = 'a_ns'").Scan(&ns); err != nil {
		t.Fatal(err)
	}
	before := dumpReadModels(t, ts.Server.Store.DB().Primary)

	notFound := []struct {
		op      string
		body    map[string]any
		errType string
	}{
		{"apis.getApi", map[string]any{"apiId": api}, "unkey/data/api_not_found"},
		{"apis.deleteApi", map[string]any{"apiId": api}, "unkey/data/api_not_found"},
		{"apis.listKeys", map[string]any{"apiId": api}, "unkey/data/api_not_found"},
		{"keys.createKey", map[string]any{"apiId": api}, "unkey/data/api_not_found"},
		{"keys.getKey", map[string]any{"keyId": keyID}, "unkey/data/key_not_found"},
		{"keys.whoami", map[string]any{"key": key}, "unkey/data/key_not_found"},
		{"keys.updateKey", map[string]any{"keyId": keyID, "name": "stolen"}, "unkey/data/key_not_found"},
		{"keys.updateCredits", map[string]any{"keyId": keyID, "operation": "set", "value": 1}, "unkey/data/key_not_found"},
		{"keys.deleteKey", map[string]any{"keyId": keyID}, "unkey/data/key_not_found"},
		{"keys.rerollKey", map[string]any{"keyId": keyID, "expiration": 0}, "unkey/data/key_not_found"},
		{"keys.addPermissions", map[string]any{"keyId": keyID, "permissions": []string{"x"}}, "unkey/data/key_not_found"},
		{"keys.removePermissions", map[string]any{"keyId": keyID, "permissions": []string{"a.perm"}}, "unkey/data/key_not_found"},
		{"keys.setPermissions", map[string]any{"keyId": keyID, "permissions": []string{}}, "unkey/data/key_not_found"},
		{"keys.addRoles", map[string]any{"keyId": keyID, "roles": []string{"a_role"}}, "unkey/data/key_not_found"},
		{"keys.removeRoles", map[string]any{"keyId": keyID, "roles": []string{"a_role"}}, "unkey/data/key_not_found"},
		{"keys.setRoles", map[string]any{"keyId": keyID, "roles": []string{}}, "unkey/data/key_not_found"},
		{"keys.migrateKeys", map[string]any{"migrationId": "mig", "apiId": api, "keys": []map[string]any{{"hash": "00ff"}}}, "unkey/data/api_not_found"},
		{"identities.getIdentity", map[string]any{"identity": identity}, "unkey/data/identity_not_found"},
		{"identities.getIdentity", map[string]any{"identity": "a_identity"}, "unkey/data/identity_not_found"},
		{"identities.updateIdentity", map[string]any{"identity": identity, "meta": map[string]any{"x": 1}}, "unkey/data/identity_not_found"},
		{"identities.deleteIdentity", map[string]any{"identity": identity}, "unkey/data/identity_not_found"},
		{"permissions.getPermission", map[string]any{"permission": perm}, "unkey/data/permission_not_found"},
		{"permissions.getPermission", map[string]any{"permission": "a.only"}, "unkey/data/permission_not_found"},
		{"permissions.deletePermission", map[string]any{"permission": perm}, "unkey/data/permission_not_found"},
		{"permissions.getRole", map[string]any{"role": role}, "unkey/data/role_not_found"},
		{"permissions.getRole", map[string]any{"role": "a_role"}, "unkey/data/role_not_found"},
		{"permissions.deleteRole", map[string]any{"role": role}, "unkey/data/role_not_found"},
		{"permissions.setRolePermissions", map[string]any{"roleId": role, "permissions": []string{}}, "unkey/data/role_not_found"},
		{"ratelimit.getOverride", map[string]any{"namespace": ns, "identifier": "u1"}, "unkey/data/ratelimit_namespace_not_found"},
		{"ratelimit.listOverrides", map[string]any{"namespace": ns}, "unkey/data/ratelimit_namespace_not_found"},
		{"ratelimit.setOverride", map[string]any{"namespace": ns, "identifier": "u1", "limit": 1, "duration": 1000}, "unkey/data/ratelimit_namespace_not_found"},
		{"ratelimit.deleteOverride", map[string]any{"namespace": ns, "identifier": "u1"}, "unkey/data/ratelimit_namespace_not_found"},
	}
	for _, c := range notFound {
		status, r := ts.call(t, b, c.op, c.body)
		if status != 404 || r.Error == nil || r.Error.Type != "https://unkey.com/docs/errors/"+c.errType {
			t.Errorf("%s %v with B's key: %d %+v, want 404 %s", c.op, c.body, status, r.Error, c.errType)
		}
	}
	// verifyKey answers NOT_FOUND; the lists are empty; limit on A's
	// namespace ID creates B's own namespace of that name, never touches A's.
	if got := ts.verify(t, b, map[string]any{"key": key}); got.Code != "NOT_FOUND" || len(got.Fields) != 2 {
		t.Errorf("verifyKey with B's key = %v", got)
	}
	for _, op := range []string{"identities.listIdentities", "permissions.listPermissions", "permissions.listRoles"} {
		status, r := ts.call(t, b, op, map[string]any{})
		if status != 200 || string(r.Data) != "[]" {
			t.Errorf("%s with B's key: %d %s", op, status, r.Data)
		}
	}
	assertSameRows(t, before, dumpReadModels(t, ts.Server.Store.DB().Primary))
}
