package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

func raw(s string) *json.RawMessage { r := json.RawMessage(s); return &r }

func TestWorkspacesProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.WorkspaceCreated{WorkspaceID: "ws_1", Name: "acme"},   // 1
		events.WorkspaceCreated{WorkspaceID: "ws_2", Name: "beta"},   // 2
		events.WorkspaceDisabled{WorkspaceID: "ws_1"},                // 3
		events.WorkspaceDisabled{WorkspaceID: "ws_2"},                // 4
		events.WorkspaceEnabled{WorkspaceID: "ws_2"},                 // 5
		events.WorkspaceCreated{WorkspaceID: "ws_1", Name: "acme-2"}, // 6: renames, keeps the rest
		events.WorkspaceDisabled{WorkspaceID: "ws_missing"},          // 7: no row, no effect
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.WorkspaceRow{
			{ID: "ws_1", Name: "acme-2", CreatedAt: at(1), DisabledAt: ptr(at(3))},
			{ID: "ws_2", Name: "beta", CreatedAt: at(2)},
		})
	})
}

func TestRootKeysProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.RootKeyCreated{RootKeyID: "rk_1", WorkspaceID: "ws_1", Hash: "h1", Start: "kl_a", Name: "ops",
			Permissions: []string{"api.*.create_key", "api.*.read_key"}}, // 1
		events.RootKeyCreated{RootKeyID: "rk_2", WorkspaceID: "ws_1", Hash: "h2", Start: "kl_b", Configured: true}, // 2
		events.RootKeyRevoked{RootKeyID: "rk_1", WorkspaceID: "ws_1", Reason: events.RevokedByOperator},            // 3
		events.RootKeyCreated{RootKeyID: "rk_1", WorkspaceID: "ws_1", Hash: "h1", Start: "kl_a", Name: "ops 2",
			Permissions: []string{"api.*.read_key"}}, // 4: upsert keeps created_at and revoked_at
		events.RootKeyRevoked{RootKeyID: "rk_missing", WorkspaceID: "ws_1"}, // 5
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.RootKeyRow{
			{ID: "rk_1", WorkspaceID: "ws_1", Hash: "h1", Start: "kl_a", Name: "ops 2", Permissions: []string{"api.*.read_key"},
				CreatedAt: at(1), RevokedAt: ptr(at(3))},
			{ID: "rk_2", WorkspaceID: "ws_1", Hash: "h2", Start: "kl_b", Permissions: []string{}, CreatedAt: at(2), Configured: true},
		})
	})
}

func TestAPIsProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "one"},              // 1
		events.APICreated{APIID: "api_2", KeySpaceID: "ks_2", WorkspaceID: "ws_1", Name: "two"},              // 2
		events.APIDeleteProtectionChanged{APIID: "api_1", WorkspaceID: "ws_1", Enabled: true},                // 3
		events.APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_1", IPs: []string{"10.0.0.1", "10.0.0.2"}}, // 4
		events.APIDeleted{APIID: "api_2", WorkspaceID: "ws_1"},                                               // 5
		events.APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "one again"},        // 6
		events.APIDeleted{APIID: "api_missing", WorkspaceID: "ws_1"},                                         // 7
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.APIRow{
			{ID: "api_1", WorkspaceID: "ws_1", KeySpaceID: "ks_1", Name: "one again", DeleteProtection: true,
				IPAllowlist: "10.0.0.1,10.0.0.2", CreatedAt: at(1)},
			{ID: "api_2", WorkspaceID: "ws_1", KeySpaceID: "ks_2", Name: "two", CreatedAt: at(2), DeletedAt: ptr(at(5))},
		})
	})
}

func TestIdentitiesProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.IdentityCreated{IdentityID: "id_1", WorkspaceID: "ws_1", ExternalID: "user-1"}, // 1
		events.IdentityDeleted{IdentityID: "id_1", WorkspaceID: "ws_1", ExternalID: "user-1"}, // 2
		events.IdentityCreated{IdentityID: "id_2", WorkspaceID: "ws_1", ExternalID: "user-1"}, // 3
		events.IdentityDeleted{IdentityID: "id_2", WorkspaceID: "ws_1", ExternalID: "user-1"}, // 4: id_1 goes for good
		events.IdentityCreated{IdentityID: "id_3", WorkspaceID: "ws_1", ExternalID: "user-1",
			Meta: json.RawMessage(`{"b": 1, "a": "x"}`)}, // 5
		events.IdentityUpdated{IdentityID: "id_3", WorkspaceID: "ws_1", Meta: &events.Change[json.RawMessage]{Value: raw(`{"c":true}`)},
			Ratelimits: &[]events.Ratelimit{{ID: "rl_1", Name: "req", Limit: 10, Duration: 1000, AutoApply: true}}}, // 6
		events.IdentityCreated{IdentityID: "id_4", WorkspaceID: "ws_2", ExternalID: "user-1", Meta: json.RawMessage(`{"b": 1, "a": "x"}`),
			Ratelimits: []events.Ratelimit{{ID: "rl_2", Name: "tokens", Limit: 5, Duration: 60000}}}, // 7: another workspace
		events.IdentityCreated{IdentityID: "id_3", WorkspaceID: "ws_1", ExternalID: "other"},                           // 8: duplicate, ignored
		events.IdentityUpdated{IdentityID: "id_missing", WorkspaceID: "ws_1", Meta: &events.Change[json.RawMessage]{}}, // 9
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.IdentityRow{
			{ID: "id_2", WorkspaceID: "ws_1", ExternalID: "user-1", Ratelimits: "[]", CreatedAt: at(3), DeletedAt: ptr(at(4))},
			{ID: "id_3", WorkspaceID: "ws_1", ExternalID: "user-1", Meta: `{"c":true}`,
				Ratelimits: `[{"id":"rl_1","name":"req","limit":10,"duration":1000,"autoApply":true}]`, CreatedAt: at(5), UpdatedAt: ptr(at(6))},
			{ID: "id_4", WorkspaceID: "ws_2", ExternalID: "user-1", Meta: `{"a":"x","b":1}`,
				Ratelimits: `[{"id":"rl_2","name":"tokens","limit":5,"duration":60000,"autoApply":false}]`, CreatedAt: at(7)},
		})
	})
}

func TestPermissionsProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.PermissionCreated{PermissionID: "perm_1", WorkspaceID: "ws_1", Slug: "api.read", Name: "Read", Description: "reads"}, // 1
		events.PermissionCreated{PermissionID: "perm_2", WorkspaceID: "ws_1", Slug: "api.write", Name: "Write"},                     // 2
		events.PermissionDeleted{PermissionID: "perm_2", WorkspaceID: "ws_1", Slug: "api.write"},                                    // 3
		events.PermissionCreated{PermissionID: "perm_1", WorkspaceID: "ws_1", Slug: "other", Name: "Other"},                         // 4: ignored
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.PermissionRow{
			{ID: "perm_1", WorkspaceID: "ws_1", Slug: "api.read", Name: "Read", Description: "reads", CreatedAt: at(1)},
		})
	})
}

func TestRolesProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.RoleCreated{RoleID: "role_1", WorkspaceID: "ws_1", Name: "admin", Description: "all", PermissionIDs: []string{"perm_1", "perm_2"}}, // 1
		events.RoleCreated{RoleID: "role_2", WorkspaceID: "ws_1", Name: "reader", PermissionIDs: []string{"perm_1"}},                              // 2
		events.RolePermissionsSet{RoleID: "role_2", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_2", "perm_3"}},                             // 3
		events.PermissionDeleted{PermissionID: "perm_1", WorkspaceID: "ws_1", Slug: "a"},                                                          // 4
		events.RoleCreated{RoleID: "role_3", WorkspaceID: "ws_1", Name: "temp", PermissionIDs: []string{"perm_2"}},                                // 5
		events.RoleDeleted{RoleID: "role_3", WorkspaceID: "ws_1", Name: "temp"},                                                                   // 6
		events.RoleCreated{RoleID: "role_1", WorkspaceID: "ws_1", Name: "dup", PermissionIDs: []string{"perm_4"}},                                 // 7: row kept, link added
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.RoleRow{
			{ID: "role_1", WorkspaceID: "ws_1", Name: "admin", Description: "all", CreatedAt: at(1)},
			{ID: "role_2", WorkspaceID: "ws_1", Name: "reader", CreatedAt: at(2)},
		})
		assertRows(t, db, []projections.RolePermissionRow{
			{ID: "role_1:perm_2", RoleID: "role_1", PermissionID: "perm_2"},
			{ID: "role_1:perm_4", RoleID: "role_1", PermissionID: "perm_4"},
			{ID: "role_2:perm_2", RoleID: "role_2", PermissionID: "perm_2"},
			{ID: "role_2:perm_3", RoleID: "role_2", PermissionID: "perm_3"},
		})
	})
}

func TestKeysProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	created := func(id, hash string) events.KeyCreated {
		return events.KeyCreated{KeyID: id, WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: hash, Start: "sk_" + id, Enabled: true}
	}
	k1 := created("key_1", "h1")
	k1.Name, k1.Meta, k1.IdentityID, k1.Expires = "one", json.RawMessage(`{"z":1,"a":2}`), "id_1", ptr(int64(99))
	k1.Remaining, k1.Refill = ptr(int64(100)), &events.Refill{Interval: "daily", Amount: 50}
	k1.PermissionIDs, k1.RoleIDs = []string{"perm_1", "perm_2"}, []string{"role_1"}
	k1.Ratelimits = []events.Ratelimit{{ID: "rl_1", Name: "req", Limit: 10, Duration: 1000}}
	k1.Encrypted = &events.Encrypted{KeyringID: "kr_1", Ciphertext: "ct"}
	k2 := created("key_2", "h2")
	k2.Enabled, k2.PendingMigrationID = false, "mig_1"
	k3 := created("key_3", "h3")
	k3.PermissionIDs, k3.RoleIDs = []string{"perm_1", "perm_2"}, []string{"role_2"}
	k5 := created("key_5", "h5")
	k5.PermissionIDs, k5.RoleIDs = []string{"perm_1"}, []string{"role_1"}
	h.apply(
		k1, // 1
		k2, // 2
		events.KeyUpdated{KeyID: "key_1", WorkspaceID: "ws_1", Name: &events.Change[string]{Value: ptr("uno")},
			IdentityID: &events.Change[string]{}, Meta: &events.Change[json.RawMessage]{Value: raw(`{"b": true}`)},
			Expires: &events.Change[int64]{}, Refill: &events.Change[events.Refill]{Value: &events.Refill{Interval: "monthly", Amount: 10, Day: 5}},
			Ratelimits: &[]events.Ratelimit{}}, // 3
		events.KeyDisabled{KeyID: "key_1", WorkspaceID: "ws_1"},                                              // 4
		events.KeyEnabled{KeyID: "key_2", WorkspaceID: "ws_1"},                                               // 5
		events.KeyPermissionsAdded{KeyID: "key_2", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}},   // 6
		events.KeyPermissionsRemoved{KeyID: "key_1", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}}, // 7
		events.KeyRolesAdded{KeyID: "key_2", WorkspaceID: "ws_1", RoleIDs: []string{"role_1", "role_2"}},     // 8
		events.KeyRolesRemoved{KeyID: "key_2", WorkspaceID: "ws_1", RoleIDs: []string{"role_1"}},             // 9
		events.KeyCreditsIncremented{KeyID: "key_1", WorkspaceID: "ws_1", By: 5},                             // 10
		events.KeyRefilled{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 50, Period: "2026-12-01"},            // 11: last_refill_at only
		events.KeyMigrated{KeyID: "key_2", WorkspaceID: "ws_1", OldHash: "h2", Hash: "h2b", Start: "sk_b"},   // 12
		k3, // 13
		events.KeyRerolled{KeyID: "key_3", WorkspaceID: "ws_1", NewKeyID: "key_4", Expires: 12345}, // 14
		events.KeyDeleted{KeyID: "key_3", WorkspaceID: "ws_1"},                                     // 15: soft
		k5, // 16
		events.KeyDeleted{KeyID: "key_5", WorkspaceID: "ws_1", Permanent: true},                                     // 17
		events.PermissionDeleted{PermissionID: "perm_2", WorkspaceID: "ws_1", Slug: "p2"},                           // 18
		events.RoleDeleted{RoleID: "role_2", WorkspaceID: "ws_1", Name: "r2"},                                       // 19
		events.KeyCreditsSet{KeyID: "key_2", WorkspaceID: "ws_1"},                                                   // 20: unlimited drops refill
		events.KeyPermissionsSet{KeyID: "key_2", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_3", "perm_4"}},  // 21
		events.KeyRolesSet{KeyID: "key_1", WorkspaceID: "ws_1", RoleIDs: []string{"role_3"}},                        // 22
		events.KeyUpdated{KeyID: "key_missing", WorkspaceID: "ws_1", Name: &events.Change[string]{Value: ptr("x")}}, // 23
		events.KeyCreditsDecremented{KeyID: "key_1", WorkspaceID: "ws_1", By: 1, Result: 49},                        // 24
		events.KeyCreditsSet{KeyID: "key_3", WorkspaceID: "ws_1", Remaining: ptr(int64(7))},                         // 25: keeps refill
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.KeyRow{
			{ID: "key_1", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h1", Start: "sk_key_1", Name: "uno",
				Meta: `{"b":true}`, RefillInterval: "monthly", RefillAmount: 10, RefillDay: 5, LastRefillAt: ptr(at(11)),
				Ratelimits: "[]", KeyringID: "kr_1", Ciphertext: "ct", CreatedAt: at(1), UpdatedAt: ptr(at(24))},
			{ID: "key_2", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h2b", Start: "sk_b", Enabled: true,
				Ratelimits: "[]", CreatedAt: at(2), UpdatedAt: ptr(at(20))},
			{ID: "key_3", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h3", Start: "sk_key_3", Enabled: true,
				Expires: ptr(int64(12345)), Ratelimits: "[]", CreatedAt: at(13), UpdatedAt: ptr(at(25)), DeletedAt: ptr(at(15))},
		})
		assertRows(t, db, []projections.KeyPermissionRow{
			{ID: "key_2:perm_3", KeyID: "key_2", PermissionID: "perm_3"},
			{ID: "key_2:perm_4", KeyID: "key_2", PermissionID: "perm_4"},
			{ID: "key_3:perm_1", KeyID: "key_3", PermissionID: "perm_1"},
		})
		assertRows(t, db, []projections.KeyRoleRow{
			{ID: "key_1:role_3", KeyID: "key_1", RoleID: "role_3"},
		})
		// The credit side of the same events, for the projection beside.
		assertRows(t, db, []projections.KeyCreditsRow{
			{KeyID: "key_1", Remaining: ptr(int64(49)), Logged: ptr(int64(49)), Epoch: 3},
			{KeyID: "key_2", Epoch: 2},
			{KeyID: "key_3", Remaining: ptr(int64(7)), Logged: ptr(int64(7)), Epoch: 2},
		})
	})
}

func TestKeyCreditsProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	limited := func(id string, n int64) events.KeyCreated {
		return events.KeyCreated{KeyID: id, WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h" + id, Start: "s", Remaining: &n}
	}
	h.apply(
		limited("key_1", 10), // 1
		events.KeyCreditsSpent{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 3, Epoch: 1},                                       // 2
		events.KeyCreditsSpent{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 2, Epoch: 0},                                       // 3: older epoch, ignored
		events.KeyCreditsSet{KeyID: "key_1", WorkspaceID: "ws_1", Remaining: ptr(int64(20))},                                   // 4: epoch 2
		events.KeyCreditsSpent{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 5, Epoch: 1},                                       // 5: overridden by the set
		events.KeyCreditsSpent{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 6, Epoch: 2},                                       // 6
		events.KeyCreated{KeyID: "key_2", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "hkey_2", Start: "s"}, // 7: unlimited
		events.KeyCreditsIncremented{KeyID: "key_2", WorkspaceID: "ws_1", By: 5},                                               // 8: unlimited stays so
		events.KeyCreditsSpent{KeyID: "key_2", WorkspaceID: "ws_1", Amount: 1, Epoch: 1},                                       // 9
		limited("key_3", math.MaxInt64-2),                                         // 10
		events.KeyCreditsIncremented{KeyID: "key_3", WorkspaceID: "ws_1", By: 10}, // 11: saturates
		limited("key_4", 1), // 12
		events.KeyDeleted{KeyID: "key_4", WorkspaceID: "ws_1", Permanent: true},                   // 13
		events.KeyCreditsDecremented{KeyID: "key_1", WorkspaceID: "ws_1", By: 100, Result: 0},     // 14: epoch 3
		events.KeyRefilled{KeyID: "key_3", WorkspaceID: "ws_1", Amount: 40, Period: "2026-12-01"}, // 15: epoch 2
		events.KeyCreditsIncremented{KeyID: "key_3", WorkspaceID: "ws_1", By: 2},                  // 16
		events.KeyDeleted{KeyID: "key_3", WorkspaceID: "ws_1"},                                    // 17: soft, counter kept
		limited("key_1", 99), // 18: duplicate, ignored
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.KeyCreditsRow{
			{KeyID: "key_1", Remaining: ptr(int64(0)), Logged: ptr(int64(0)), Epoch: 3},
			{KeyID: "key_2", Epoch: 1},
			{KeyID: "key_3", Remaining: ptr(int64(42)), Logged: ptr(int64(42)), Epoch: 2},
		})
	})
}

func TestRatelimitNamespacesProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.apply(
		events.RatelimitNamespaceCreated{NamespaceID: "ns_1", WorkspaceID: "ws_1", Name: "api"},   // 1
		events.RatelimitNamespaceCreated{NamespaceID: "ns_2", WorkspaceID: "ws_1", Name: "email"}, // 2
		events.RatelimitNamespaceDeleted{NamespaceID: "ns_2", WorkspaceID: "ws_1"},                // 3
		events.RatelimitNamespaceCreated{NamespaceID: "ns_1", WorkspaceID: "ws_1", Name: "api-2"}, // 4: upsert
		events.RatelimitNamespaceDeleted{NamespaceID: "ns_missing", WorkspaceID: "ws_1"},          // 5
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.RatelimitNamespaceRow{
			{ID: "ns_1", WorkspaceID: "ws_1", Name: "api-2", CreatedAt: at(1)},
			{ID: "ns_2", WorkspaceID: "ws_1", Name: "email", CreatedAt: at(2), DeletedAt: ptr(at(3))},
		})
	})
}

func TestRatelimitOverridesProjection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	set := func(id, identifier string, limit, duration int64) events.RatelimitOverrideSet {
		return events.RatelimitOverrideSet{OverrideID: id, NamespaceID: "ns_1", WorkspaceID: "ws_1", Identifier: identifier, Limit: limit, DurationMs: duration}
	}
	h.apply(
		set("ov_1", "user_*", 10, 1000), // 1
		set("ov_2", "bob", 5, 60000),    // 2
		events.RatelimitOverrideDeleted{OverrideID: "ov_1", NamespaceID: "ns_1", WorkspaceID: "ws_1", Identifier: "user_*"}, // 3
		set("ov_1", "user_*", 20, 2000), // 4: back to life, created_at kept
		events.RatelimitOverrideDeleted{OverrideID: "ov_2", NamespaceID: "ns_1", WorkspaceID: "ws_1", Identifier: "bob"}, // 5
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.RatelimitOverrideRow{
			{ID: "ov_1", WorkspaceID: "ws_1", NamespaceID: "ns_1", Identifier: "user_*", Limit: 20, DurationMs: 2000, CreatedAt: at(1), UpdatedAt: at(4)},
			{ID: "ov_2", WorkspaceID: "ws_1", NamespaceID: "ns_1", Identifier: "bob", Limit: 5, DurationMs: 60000, CreatedAt: at(2), UpdatedAt: at(2),
				DeletedAt: ptr(at(5))},
		})
	})
}

// A run of key.created events is written with one INSERT per table
// (HandleBatch): a key delivered twice within the run, as a redelivery
// would, is kept once, and every link and counter lands.
func TestKeysCreatedInOneRun(t *testing.T) {
	h := newHarness(t)
	a := events.KeyCreated{KeyID: "key_a", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "ha", Start: "sa", Enabled: true,
		Remaining: ptr(int64(5))}
	b := events.KeyCreated{KeyID: "key_b", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "hb", Start: "sb",
		PermissionIDs: []string{"perm_1", "perm_2"}, RoleIDs: []string{"role_1"}}
	h.apply(a, b, a) // 1, 2, 3
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.KeyRow{
			{ID: "key_a", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "ha", Start: "sa", Enabled: true,
				Ratelimits: "[]", CreatedAt: at(1)},
			{ID: "key_b", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "hb", Start: "sb",
				Ratelimits: "[]", CreatedAt: at(2)},
		})
		assertRows(t, db, []projections.KeyPermissionRow{
			{ID: "key_b:perm_1", KeyID: "key_b", PermissionID: "perm_1"},
			{ID: "key_b:perm_2", KeyID: "key_b", PermissionID: "perm_2"},
		})
		assertRows(t, db, []projections.KeyRoleRow{{ID: "key_b:role_1", KeyID: "key_b", RoleID: "role_1"}})
		assertRows(t, db, []projections.KeyCreditsRow{
			{KeyID: "key_a", Remaining: ptr(int64(5)), Logged: ptr(int64(5)), Epoch: 1},
			{KeyID: "key_b", Epoch: 1},
		})
	})
}

func TestPortalsProjection(t *testing.T) {
	h := newHarness(t)
	h.apply(
		events.PortalCreated{PortalID: "pt_1", WorkspaceID: "ws_1", Name: "billing", APIIDs: []string{"api_1"},
			KeySpaceIDs: []string{"ks_1"}, ReturnURL: "https://a.example/back"}, // 1
		events.PortalCreated{PortalID: "pt_2", WorkspaceID: "ws_1", Name: "docs"}, // 2: no APIs
		events.PortalDeleted{PortalID: "pt_1", WorkspaceID: "ws_1"},               // 3
		events.PortalCreated{PortalID: "pt_1", WorkspaceID: "ws_1", Name: "billing 2", APIIDs: []string{"api_1", "api_2"},
			KeySpaceIDs: []string{"ks_1", "ks_2"}}, // 4: upsert keeps created_at and deleted_at
		events.PortalDeleted{PortalID: "pt_missing", WorkspaceID: "ws_1"}, // 5
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.PortalRow{
			{ID: "pt_1", WorkspaceID: "ws_1", Name: "billing 2", APIIDs: []string{"api_1", "api_2"}, KeySpaceIDs: []string{"ks_1", "ks_2"},
				CreatedAt: at(1), DeletedAt: ptr(at(3))},
			{ID: "pt_2", WorkspaceID: "ws_1", Name: "docs", CreatedAt: at(2)},
		})
	})
}

func TestPortalSessionsProjection(t *testing.T) {
	h := newHarness(t)
	created := func(id, code string) events.PortalSessionCreated {
		return events.PortalSessionCreated{SessionID: id, PortalID: "pt_1", WorkspaceID: "ws_1", ExternalID: "user_1",
			Scopes: []string{"keys.read"}, RootKeyID: "rk_1", CodeHash: code, CodeExpiresAt: 1_700_000_600_000}
	}
	preview := created("ps_2", "code_2")
	preview.Preview, preview.Permissions, preview.ReturnURL = true, []string{"api.*.read_key"}, "https://a.example/back"
	h.apply(
		created("ps_1", "code_1"), // 1
		preview,                   // 2
		events.PortalSessionExchanged{SessionID: "ps_1", TokenHash: "token_1", ExpiresAt: 1_700_003_600_000}, // 3
		created("ps_1", "code_1"), // 4: already there, changes nothing
		events.PortalSessionExchanged{SessionID: "ps_missing", TokenHash: "token_9", ExpiresAt: 1}, // 5
	)
	h.expect(func(t *testing.T, db bun.IDB) {
		assertRows(t, db, []projections.PortalSessionRow{
			{ID: "ps_1", PortalID: "pt_1", WorkspaceID: "ws_1", ExternalID: "user_1", Scopes: []string{"keys.read"}, Permissions: []string{},
				RootKeyID: "rk_1", CodeHash: "code_1", CodeExpiresAt: 1_700_000_600_000, TokenHash: ptr("token_1"),
				TokenExpiresAt: ptr(int64(1_700_003_600_000)), CreatedAt: at(1), DeadAt: 1_700_003_600_000},
			{ID: "ps_2", PortalID: "pt_1", WorkspaceID: "ws_1", ExternalID: "user_1", Scopes: []string{"keys.read"},
				Permissions: []string{"api.*.read_key"}, Preview: true, ReturnURL: "https://a.example/back", RootKeyID: "rk_1",
				CodeHash: "code_2", CodeExpiresAt: 1_700_000_600_000, CreatedAt: at(2), DeadAt: 1_700_000_600_000},
		})
	})
}

// A session's row goes once it has been dead (code expired unexchanged, or
// token expired) for PortalSessionKeep at the time of a later session's
// creation; live and replayed folds prune alike (the harness compares them).
func TestPortalSessionsArePrunedADayAfterTheyDie(t *testing.T) {
	h := newHarness(t)
	hour := time.Hour.Milliseconds()
	created := func(id string, codeExpires int64) events.PortalSessionCreated {
		return events.PortalSessionCreated{SessionID: id, PortalID: "pt_1", WorkspaceID: "ws_1", ExternalID: "user_1",
			Scopes: []string{"keys.read"}, RootKeyID: "rk_1", CodeHash: "code_" + id, CodeExpiresAt: codeExpires}
	}
	h.apply(
		created("ps_gone", epochMs-25*hour),   // 1: dead 25 h when it is created: its own creation prunes it
		created("ps_recent", epochMs-23*hour), // 2: dead 23 h: stays, until 2 h later
		created("ps_used", epochMs-23*hour),   // 3: exchanged below, so its token keeps it
		created("ps_expired", epochMs+hour),   // 4: exchanged below for a token dead 25 h ago
		events.PortalSessionExchanged{SessionID: "ps_used", TokenHash: "token_used", ExpiresAt: epochMs + 48*hour},       // 5
		events.PortalSessionExchanged{SessionID: "ps_expired", TokenHash: "token_expired", ExpiresAt: epochMs - 25*hour}, // 6
		created("ps_now", epochMs+hour), // 7: prunes ps_expired (its dead_at moved with the exchange)
	)
	h.applyLater(2*time.Hour, created("ps_later", epochMs+3*hour)) // 8: two hours on, ps_recent is 25 h dead
	h.expect(func(t *testing.T, db bun.IDB) {
		var ids []string
		for _, r := range rowsOf[projections.PortalSessionRow](t, db) {
			ids = append(ids, r.ID)
		}
		if want := []string{"ps_later", "ps_now", "ps_used"}; !slices.Equal(ids, want) {
			t.Fatalf("portal session rows %v, want %v", ids, want)
		}
	})
}

// A projection without an in-memory fold still replays correctly, but one
// statement per event: every projection keyline ships must fold in memory
// for `keyline replay` to run at database speed.
func TestEveryProjectionFoldsInMemory(t *testing.T) {
	for _, p := range projections.All() {
		if _, ok := p.(projections.BulkProjection); !ok {
			t.Errorf("projection %s has no NewBulk", p.Name())
		}
	}
}

// perEvent hides a projection's in-memory fold, as a projection written
// without one would look to the runner.
type perEvent struct{ projections.Projection }

// A replay over a mix of in-memory folds and per-event projections reads
// the log once and gives every table the rows the inline fold gave it.
func TestRebuildWithAProjectionWithoutInMemoryFold(t *testing.T) {
	h := newHarness(t)
	h.apply(
		events.WorkspaceCreated{WorkspaceID: "ws_1", Name: "acme"},
		events.KeyCreated{KeyID: "key_1", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h1", Start: "s",
			Enabled: true, PermissionIDs: []string{"perm_1"}, Remaining: ptr(int64(10))},
		events.KeyCreated{KeyID: "key_2", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h2", Start: "s"},
		events.KeyPermissionsAdded{KeyID: "key_2", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1", "perm_2"}},
		events.KeyDeleted{KeyID: "key_1", WorkspaceID: "ws_1", Permanent: true},
		events.KeyCreditsSpent{KeyID: "key_2", WorkspaceID: "ws_1", Amount: 1, Epoch: 1},
	)
	live := h.dump()
	ps := projections.All()
	for i, p := range ps {
		if p.Name() == "keys" {
			ps[i] = perEvent{p}
		}
	}
	n, err := projections.NewRunner(ps).Rebuild(context.Background(), h.log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("replay went through %d events, want 6", n)
	}
	assertSameDump(t, live, h.dump())
	assertRows(t, h.db, []projections.KeyPermissionRow{{ID: "key_2:perm_1", KeyID: "key_2", PermissionID: "perm_1"},
		{ID: "key_2:perm_2", KeyID: "key_2", PermissionID: "perm_2"}})
}

// Enough rows that the replay writes full multi-row statements and a
// shorter tail on every table it fills, with NULLs and JSON columns among
// them; the harness compares every table byte for byte.
func TestReplayWritesFullStatementsAndTails(t *testing.T) {
	h := newHarness(t)
	var evs []events.Event
	for i := range 101 {
		id := fmt.Sprintf("key_%03d", i)
		k := events.KeyCreated{KeyID: id, WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h" + id, Start: "s",
			Enabled: i%2 == 0, PermissionIDs: []string{"perm_1", "perm_2"}, Meta: json.RawMessage(`{"i":1}`)}
		if i%3 == 0 {
			k.Remaining, k.Expires = ptr(int64(i)), ptr(int64(1000+i))
		}
		evs = append(evs, k, events.RootKeyCreated{RootKeyID: "rk_" + id, WorkspaceID: "ws_1", Hash: "rh" + id, Start: "kl",
			Permissions: []string{"api.*.read_key"}})
	}
	h.apply(evs...)
	h.expect(func(t *testing.T, db bun.IDB) {
		if got := len(rowsOf[projections.KeyRow](t, db)); got != 101 {
			t.Errorf("%d keys, want 101", got)
		}
		if got := len(rowsOf[projections.KeyPermissionRow](t, db)); got != 202 {
			t.Errorf("%d key permissions, want 202", got)
		}
		if got := len(rowsOf[projections.RootKeyRow](t, db)); got != 101 {
			t.Errorf("%d root keys, want 101", got)
		}
	})
}

// An append moves the checkpoints of the projections it applied, and only
// those: not one already past its events, nor a row of a projection this
// runner does not run (SQLite updates every row without a WHERE when all
// of them move, which must not catch these).
func TestCheckpointsMoveOnlyForTheProjectionsApplied(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.db.ExecContext(ctx, "INSERT INTO projection_checkpoints (name, version, position) VALUES ('retired', 1, 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.ExecContext(ctx, "UPDATE projection_checkpoints SET position = 10 WHERE name = 'apis'"); err != nil {
		t.Fatal(err)
	}
	h.apply(events.WorkspaceCreated{WorkspaceID: "ws_1", Name: "one"})
	positions := func() map[string]int64 {
		t.Helper()
		rows, err := h.db.QueryContext(ctx, "SELECT name, position FROM projection_checkpoints")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var name string
			var pos int64
			if err := rows.Scan(&name, &pos); err != nil {
				t.Fatal(err)
			}
			out[name] = pos
		}
		return out
	}
	for name, pos := range positions() {
		want := int64(1)
		switch name {
		case "retired":
			want = 0
		case "apis":
			want = 10
		}
		if pos != want {
			t.Errorf("checkpoint %s at %d, want %d", name, pos, want)
		}
	}
	// Without them every row moves.
	if _, err := h.db.ExecContext(ctx, "DELETE FROM projection_checkpoints WHERE name = 'retired'"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.ExecContext(ctx, "UPDATE projection_checkpoints SET position = 1 WHERE name = 'apis'"); err != nil {
		t.Fatal(err)
	}
	h.apply(events.WorkspaceCreated{WorkspaceID: "ws_2", Name: "two"})
	for name, pos := range positions() {
		if pos != 2 {
			t.Errorf("checkpoint %s at %d, want 2", name, pos)
		}
	}
}
