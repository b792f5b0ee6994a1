package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keyline/keyline/configs"
)

// Identities, permissions, roles and their links to keys,
// through creates, updates, set changes, deletes and re-creates (and
// concurrent upserts of one externalId), replay into identical read models.
func TestRBACReplayReproducesReadModels(t *testing.T) {
	t.Parallel()
	bothDatabases(t, func(t *testing.T, cfg *configs.Config) {
		ts := startServer(t, cfg)
		root := ts.RootKey
		api := ts.createAPI(t, root, "rbac replay")
		for i := range 6 {
			ts.createIdentity(t, root, map[string]any{"externalId": fmt.Sprintf("org_%d", i), "meta": map[string]any{"i": i, "tier": "a"},
				"ratelimits": []map[string]any{{"name": "req", "limit": 10 + i, "duration": 60000, "autoApply": i%2 == 0}}})
		}
		ts.must(t, root, "identities.updateIdentity", map[string]any{"identity": "org_1", "meta": map[string]any{"b": 2, "a": 1},
			"ratelimits": []map[string]any{{"name": "tokens", "limit": 5, "duration": 1000, "autoApply": true}}}, nil)
		ts.must(t, root, "identities.deleteIdentity", map[string]any{"identity": "org_2"}, nil)
		ts.createIdentity(t, root, map[string]any{"externalId": "org_2"})
		ts.must(t, root, "identities.deleteIdentity", map[string]any{"identity": "org_2"}, nil)

		for i := range 5 {
			ts.createPermission(t, root, fmt.Sprintf("doc.%d", i))
		}
		r1 := ts.createRole(t, root, "reader", "doc.0", "doc.1", "auto.created")
		r2 := ts.createRole(t, root, "writer", "doc.2")
		ts.must(t, root, "permissions.setRolePermissions", map[string]any{"roleId": r2, "permissions": []string{"doc.3", "doc.4", "doc.new"}}, nil)

		// Concurrent keys for one new externalId converge on one identity.
		var wg sync.WaitGroup
		keyIDs := make([]string, 8)
		for i := range keyIDs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keyIDs[i], _ = ts.createKey(t, root, map[string]any{"apiId": api, "externalId": "racer",
					"permissions": []string{"doc.0", fmt.Sprintf("doc.%d", i%5)}, "roles": []string{"reader", "writer"}})
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if n := countRows(t, ts, "SELECT COUNT(*) FROM identities WHERE external_id = 'racer'"); n != 1 {
			t.Fatalf("%d identities for one concurrently upserted externalId", n)
		}
		ts.must(t, root, "permissions.deletePermission", map[string]any{"permission": "doc.1"}, nil)
		ts.createPermission(t, root, "doc.1")
		ts.must(t, root, "keys.addPermissions", map[string]any{"keyId": keyIDs[0], "permissions": []string{"doc.1"}}, nil)
		ts.must(t, root, "permissions.deleteRole", map[string]any{"role": r1}, nil)
		ts.createRole(t, root, "reader", "doc.1")

		before := dumpDatabase(t, cfg.Database.Primary)
		for table, want := range map[string]int{"identities": 7, "permissions": 7, "roles": 2, "role_permissions": 4} {
			if len(before[table]) != want {
				t.Fatalf("%s holds %d rows, want %d:\n%v", table, len(before[table]), want, before[table])
			}
		}
		config := writeConfig(t, map[string]any{"database": map[string]any{"primary": cfg.Database.Primary}})
		if out, errs, code := runProc(t, "replay", "--config", config); code != 0 {
			t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
		}
		assertSameRows(t, before, dumpDatabase(t, cfg.Database.Primary))
	})
}
