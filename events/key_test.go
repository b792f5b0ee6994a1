package events

import (
	"errors"
	"reflect"
	"testing"
)

func givenKey(history ...Event) *Key {
	var k Key
	for _, e := range history {
		k.Apply(e)
	}
	return &k
}

func TestKeyDecisions(t *testing.T) {
	created := KeyCreated{KeyID: "key_1", WorkspaceID: "ws_a", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h", Enabled: true,
		PermissionIDs: []string{"perm_a"}}
	limited := created
	limited.Remaining = ptr(int64(10))
	deleted := KeyDeleted{KeyID: "key_1", WorkspaceID: "ws_a"}
	cases := []struct {
		name    string
		given   []Event
		when    func(k *Key) ([]Event, error)
		then    []Event
		wantErr error
	}{
		{"create on empty stream", nil, func(k *Key) ([]Event, error) { return k.Create(created) }, []Event{created}, nil},
		{"create dedupes permissions", nil, func(k *Key) ([]Event, error) {
			c := created
			c.PermissionIDs = []string{"perm_a", "perm_a", ""}
			return k.Create(c)
		}, []Event{created}, nil},
		{"create twice", []Event{created}, func(k *Key) ([]Event, error) { return k.Create(created) }, nil, ErrAlreadyExists},
		{"soft delete", []Event{created}, func(k *Key) ([]Event, error) { return k.Delete("ws_a", false) }, []Event{deleted}, nil},
		{"permanent delete", []Event{created}, func(k *Key) ([]Event, error) { return k.Delete("ws_a", true) },
			[]Event{KeyDeleted{KeyID: "key_1", WorkspaceID: "ws_a", Permanent: true}}, nil},
		{"delete twice", []Event{created, deleted}, func(k *Key) ([]Event, error) { return k.Delete("ws_a", false) }, nil, ErrNotFound},
		{"delete from another workspace", []Event{created}, func(k *Key) ([]Event, error) { return k.Delete("ws_b", false) }, nil, ErrNotFound},
		{"disable", []Event{created}, func(k *Key) ([]Event, error) { return k.SetEnabled("ws_a", false) },
			[]Event{KeyDisabled{KeyID: "key_1", WorkspaceID: "ws_a"}}, nil},
		{"enable an enabled key changes nothing", []Event{created}, func(k *Key) ([]Event, error) { return k.SetEnabled("ws_a", true) }, nil, nil},
		{"enable a disabled key", []Event{created, KeyDisabled{KeyID: "key_1"}}, func(k *Key) ([]Event, error) { return k.SetEnabled("ws_a", true) },
			[]Event{KeyEnabled{KeyID: "key_1", WorkspaceID: "ws_a"}}, nil},
		{"increment unlimited", []Event{created}, func(k *Key) ([]Event, error) { return k.Increment("ws_a", 1) }, nil, ErrUnlimitedCredits},
		{"increment limited", []Event{limited}, func(k *Key) ([]Event, error) { return k.Increment("ws_a", 4) },
			[]Event{KeyCreditsIncremented{KeyID: "key_1", WorkspaceID: "ws_a", By: 4}}, nil},
		{"decrement floors at zero", []Event{limited}, func(k *Key) ([]Event, error) { return k.Decrement("ws_a", 8, 3) },
			[]Event{KeyCreditsDecremented{KeyID: "key_1", WorkspaceID: "ws_a", By: 8, Result: 0}}, nil},
		{"credits set to unlimited then increment", []Event{limited, KeyCreditsSet{KeyID: "key_1"}},
			func(k *Key) ([]Event, error) { return k.Increment("ws_a", 1) }, nil, ErrUnlimitedCredits},
		{"add only new permissions", []Event{created}, func(k *Key) ([]Event, error) { return k.AddPermissions("ws_a", []string{"perm_a", "perm_b", "perm_b"}) },
			[]Event{KeyPermissionsAdded{KeyID: "key_1", WorkspaceID: "ws_a", PermissionIDs: []string{"perm_b"}}}, nil},
		{"add held permissions is a no-op", []Event{created}, func(k *Key) ([]Event, error) { return k.AddPermissions("ws_a", []string{"perm_a"}) }, nil, nil},
		{"remove only held permissions", []Event{created}, func(k *Key) ([]Event, error) { return k.RemovePermissions("ws_a", []string{"perm_a", "perm_z"}) },
			[]Event{KeyPermissionsRemoved{KeyID: "key_1", WorkspaceID: "ws_a", PermissionIDs: []string{"perm_a"}}}, nil},
		{"set the same permissions is a no-op", []Event{created}, func(k *Key) ([]Event, error) { return k.SetPermissions("ws_a", []string{"perm_a"}) }, nil, nil},
		{"set empty roles on roleless key is a no-op", []Event{created}, func(k *Key) ([]Event, error) { return k.SetRoles("ws_a", nil) }, nil, nil},
		{"add roles", []Event{created}, func(k *Key) ([]Event, error) { return k.AddRoles("ws_a", []string{"role_1"}) },
			[]Event{KeyRolesAdded{KeyID: "key_1", WorkspaceID: "ws_a", RoleIDs: []string{"role_1"}}}, nil},
		{"reroll", []Event{created}, func(k *Key) ([]Event, error) { return k.Reroll("ws_a", "key_2", 120000) },
			[]Event{KeyRerolled{KeyID: "key_1", WorkspaceID: "ws_a", NewKeyID: "key_2", Expires: 120000}}, nil},
		{"update deleted key", []Event{created, deleted}, func(k *Key) ([]Event, error) { return k.Update("ws_a", KeyUpdated{}) }, nil, ErrNotFound},
		{"migrate pending key", []Event{func() KeyCreated { c := created; c.PendingMigrationID = "m1"; return c }()},
			func(k *Key) ([]Event, error) { return k.Migrate("m1", "h2", "s2") },
			[]Event{KeyMigrated{KeyID: "key_1", WorkspaceID: "ws_a", OldHash: "h", Hash: "h2", Start: "s2"}}, nil},
		{"migrate with another migration id", []Event{func() KeyCreated { c := created; c.PendingMigrationID = "m1"; return c }()},
			func(k *Key) ([]Event, error) { return k.Migrate("m2", "h2", "s2") }, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.when(givenKey(tc.given...))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events = %#v, want %#v", got, tc.then)
			}
		})
	}
}

func TestKeyUpdateThreeStates(t *testing.T) {
	k := givenKey(KeyCreated{KeyID: "key_1", WorkspaceID: "ws_a", Name: "old", Expires: ptr(int64(9)), IdentityID: "id_1"},
		KeyUpdated{Name: &Change[string]{Value: ptr("new")}, Expires: &Change[int64]{}})
	if k.Name != "new" || k.Expires != nil || k.IdentityID != "id_1" {
		t.Fatalf("after update: name %q expires %v identity %q", k.Name, k.Expires, k.IdentityID)
	}
}

func TestDerivedIDsConverge(t *testing.T) {
	if IdentityIDFor("ws_a", "u1", 0) != IdentityIDFor("ws_a", "u1", 0) || IdentityIDFor("ws_a", "u1", 0) == IdentityIDFor("ws_b", "u1", 0) {
		t.Fatal("identity IDs must be stable per (workspace, externalId) and differ across workspaces")
	}
	if IdentityIDFor("ws_a", "u1", 0) == IdentityIDFor("ws_a", "u1", 1) {
		t.Fatal("a re-created identity must get a new ID")
	}
	if PermissionIDFor("ws_a", "a.b", 0) == PermissionIDFor("ws_a", "a.c", 0) {
		t.Fatal("permission IDs must differ between slugs")
	}
}

// delete → create gives a new identity on the same externalId stream, and
// a live holder makes a second create ErrAlreadyExists.
func TestIdentityGenerations(t *testing.T) {
	var i Identity
	fold := func(evs []Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			i.Apply(e)
		}
	}
	fold(i.Create("ws_a", "u1", nil, nil))
	first := i.ID
	if _, err := i.Create("ws_a", "u1", nil, nil); err != ErrAlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	if _, err := i.Delete("ws_b"); err != ErrNotFound {
		t.Fatalf("delete from another workspace: %v", err)
	}
	fold(i.Delete("ws_a"))
	if _, err := i.Delete("ws_a"); err != ErrNotFound {
		t.Fatalf("second delete: %v", err)
	}
	fold(i.Create("ws_a", "u1", nil, nil))
	if i.ID == first || i.ID != IdentityIDFor("ws_a", "u1", 1) || !i.Live("ws_a") {
		t.Fatalf("re-created identity %q (first %q)", i.ID, first)
	}
}

func TestRoleSetPermissionsIsIdempotent(t *testing.T) {
	var r Role
	evs, _ := r.Create("ws_a", "admin", "", []string{"p1", "p1", "p2"})
	r.Apply(evs[0])
	if got := r.Permissions; len(got) != 2 {
		t.Fatalf("permissions %v", got)
	}
	if evs, err := r.SetPermissions("ws_a", []string{"p2", "p1"}); err != nil || len(evs) != 0 {
		t.Fatalf("same set: %v %v", evs, err)
	}
	if evs, _ := r.SetPermissions("ws_a", nil); len(evs) != 1 {
		t.Fatalf("clearing: %v", evs)
	}
}
