package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
)

type permissionOut struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
}

type roleOut struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Permissions []permissionOut `json:"permissions"`
}

func slugs(ps []permissionOut) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Slug)
	}
	slices.Sort(out)
	return out
}

func TestPermissionsAndRolesLifecycle(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		var created struct {
			PermissionID string `json:"permissionId"`
		}
		ts.must(t, ts.RootKey, "permissions.createPermission",
			map[string]any{"slug": "docs.read", "name": "Read docs", "description": "Reads the Docs"}, &created)
		permID := created.PermissionID
		status, r := ts.call(t, ts.RootKey, "permissions.createPermission", map[string]any{"slug": "docs.read", "name": "again"})
		expectError(t, status, r, 409, "unkey/data/permission_already_exists")
		for _, ref := range []string{permID, "docs.read"} {
			var got permissionOut
			ts.must(t, ts.RootKey, "permissions.getPermission", map[string]any{"permission": ref}, &got)
			if got != (permissionOut{ID: permID, Name: "Read docs", Slug: "docs.read", Description: "Reads the Docs"}) {
				t.Fatalf("getPermission(%s) = %+v", ref, got)
			}
		}
		ts.createPermission(t, ts.RootKey, "docs.write")
		var list []permissionOut
		ts.must(t, ts.RootKey, "permissions.listPermissions", map[string]any{"search": "THE DOCS"}, &list)
		if len(list) != 1 || list[0].ID != permID {
			t.Fatalf("search by description = %+v", list)
		}

		// createRole attaches existing slugs and creates missing ones.
		roleID := ts.createRole(t, ts.RootKey, "editor", "docs.read", "docs.publish")
		status, r = ts.call(t, ts.RootKey, "permissions.createRole", map[string]any{"name": "editor"})
		expectError(t, status, r, 409, "unkey/data/role_already_exists")
		var role roleOut
		ts.must(t, ts.RootKey, "permissions.getRole", map[string]any{"role": "editor"}, &role)
		if role.ID != roleID || strings.Join(slugs(role.Permissions), ",") != "docs.publish,docs.read" {
			t.Fatalf("getRole = %+v", role)
		}
		var set []permissionOut
		ts.must(t, ts.RootKey, "permissions.setRolePermissions", map[string]any{"roleId": roleID, "permissions": []string{"docs.write", "docs.read"}}, &set)
		if strings.Join(slugs(set), ",") != "docs.read,docs.write" {
			t.Fatalf("setRolePermissions = %+v", set)
		}
		// Idempotent: a repeat appends nothing.
		events := countRows(t, ts, "SELECT COUNT(*) FROM events")
		ts.must(t, ts.RootKey, "permissions.setRolePermissions", map[string]any{"roleId": roleID, "permissions": []string{"docs.read", "docs.write"}}, nil)
		if n := countRows(t, ts, "SELECT COUNT(*) FROM events"); n != events {
			t.Fatalf("a repeated setRolePermissions appended %d events", n-events)
		}
		status, r = ts.call(t, ts.RootKey, "permissions.setRolePermissions", map[string]any{"roleId": "role_nope", "permissions": []string{}})
		expectError(t, status, r, 404, "unkey/data/role_not_found")
		var roles []roleOut
		ts.must(t, ts.RootKey, "permissions.listRoles", map[string]any{}, &roles)
		if len(roles) != 1 || len(roles[0].Permissions) != 2 {
			t.Fatalf("listRoles = %+v", roles)
		}

		// A key holding the permission directly and through the role.
		api := ts.createAPI(t, ts.RootKey, "rbac")
		_, key := ts.createKey(t, ts.RootKey, map[string]any{"apiId": api, "permissions": []string{"docs.read"}, "roles": []string{"editor"}})
		verify := func(query string) string {
			return ts.verify(t, ts.RootKey, map[string]any{"key": key, "permissions": query}).Code
		}
		if c := verify("docs.read AND docs.write"); c != "VALID" {
			t.Fatalf("before deletes: %s", c)
		}
		// Deleting a permission detaches it from keys and roles; verification follows at once.
		ts.must(t, ts.RootKey, "permissions.deletePermission", map[string]any{"permission": "docs.read"}, nil)
		if c := verify("docs.read"); c != "INSUFFICIENT_PERMISSIONS" {
			t.Fatalf("after deleting docs.read: %s", c)
		}
		if n := countRows(t, ts, "SELECT COUNT(*) FROM key_permissions WHERE permission_id = ?", permID) +
			countRows(t, ts, "SELECT COUNT(*) FROM role_permissions WHERE permission_id = ?", permID); n != 0 {
			t.Fatalf("%d links to the deleted permission remain", n)
		}
		status, r = ts.call(t, ts.RootKey, "permissions.getPermission", map[string]any{"permission": permID})
		expectError(t, status, r, 404, "unkey/data/permission_not_found")
		status, r = ts.call(t, ts.RootKey, "permissions.deletePermission", map[string]any{"permission": permID})
		expectError(t, status, r, 404, "unkey/data/permission_not_found")
		// Re-creating the slug gives a new permission the key does not hold.
		again := ts.createPermission(t, ts.RootKey, "docs.read")
		if again == permID {
			t.Fatal("a re-created slug reused the deleted permission's ID")
		}
		if c := verify("docs.read"); c != "INSUFFICIENT_PERMISSIONS" {
			t.Fatalf("re-created slug granted to the key: %s", c)
		}
		// Deleting the role takes its permissions away from the key.
		if c := verify("docs.write"); c != "VALID" {
			t.Fatalf("via role: %s", c)
		}
		ts.must(t, ts.RootKey, "permissions.deleteRole", map[string]any{"role": roleID}, nil)
		if c := verify("docs.write"); c != "INSUFFICIENT_PERMISSIONS" {
			t.Fatalf("after deleting the role: %s", c)
		}
		status, r = ts.call(t, ts.RootKey, "permissions.getRole", map[string]any{"role": roleID})
		expectError(t, status, r, 404, "unkey/data/role_not_found")
		status, r = ts.call(t, ts.RootKey, "permissions.deleteRole", map[string]any{"role": "editor"})
		expectError(t, status, r, 404, "unkey/data/role_not_found")
		if again := ts.createRole(t, ts.RootKey, "editor"); again == roleID {
			t.Fatal("a re-created role reused the deleted role's ID")
		}
	})
}

// Deleting a permission on one node reaches another node's verify cache.
func TestPermissionDeleteReachesOtherNode(t *testing.T) {
	t.Parallel()
	cfg := postgresConfig(t)
	a := startServer(t, cfg)
	cfg2 := *cfg
	cfg2.Bootstrap = &configs.Bootstrap{RootKey: a.RootKey}
	b := startServer(t, &cfg2)
	api := a.createAPI(t, a.RootKey, "two nodes")
	_, key := a.createKey(t, a.RootKey, map[string]any{"apiId": api, "permissions": []string{"x.read"}})
	if c := b.verify(t, b.RootKey, map[string]any{"key": key, "permissions": "x.read"}).Code; c != "VALID" {
		t.Fatalf("node B before: %v", c)
	}
	a.must(t, a.RootKey, "permissions.deletePermission", map[string]any{"permission": "x.read"}, nil)
	deadline := 100
	for i := 0; ; i++ {
		c := b.verify(t, b.RootKey, map[string]any{"key": key, "permissions": "x.read"}).Code
		if c == "INSUFFICIENT_PERMISSIONS" {
			break
		}
		if i == deadline {
			t.Fatalf("node B still grants the deleted permission: %v", c)
		}
		sleepMs(20)
	}
}

func sleepMs(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }
