package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// given folds history into a fresh API, the "given events" of a
// given/when/then table.
func givenAPI(history ...Event) *API {
	var a API
	for _, e := range history {
		a.Apply(e)
	}
	return &a
}

func TestAPIDecisions(t *testing.T) {
	created := APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_a", Name: "payments"}
	deleted := APIDeleted{APIID: "api_1", WorkspaceID: "ws_a"}
	protect := APIDeleteProtectionChanged{APIID: "api_1", WorkspaceID: "ws_a", Enabled: true}
	allowed := APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_a", IPs: []string{"1.2.3.4", "5.6.7.8"}}
	cases := []struct {
		name    string
		given   []Event
		when    func(a *API) ([]Event, error)
		then    []Event
		wantErr error
	}{
		{"create on empty stream", nil, func(a *API) ([]Event, error) { return a.Create(created) }, []Event{created}, nil},
		{"create twice", []Event{created}, func(a *API) ([]Event, error) { return a.Create(created) }, nil, ErrAlreadyExists},
		{"delete live api", []Event{created}, func(a *API) ([]Event, error) { return a.Delete("ws_a") }, []Event{deleted}, nil},
		{"delete twice is not found", []Event{created, deleted}, func(a *API) ([]Event, error) { return a.Delete("ws_a") }, nil, ErrNotFound},
		{"delete from another workspace is not found", []Event{created}, func(a *API) ([]Event, error) { return a.Delete("ws_b") }, nil, ErrNotFound},
		{"delete missing api", nil, func(a *API) ([]Event, error) { return a.Delete("ws_a") }, nil, ErrNotFound},
		{"delete protected api", []Event{created, protect}, func(a *API) ([]Event, error) { return a.Delete("ws_a") }, nil, ErrDeleteProtected},
		{"protection lifted allows delete", []Event{created, protect, APIDeleteProtectionChanged{APIID: "api_1", WorkspaceID: "ws_a"}},
			func(a *API) ([]Event, error) { return a.Delete("ws_a") }, []Event{deleted}, nil},
		{"setting protection to its current value changes nothing", []Event{created, protect},
			func(a *API) ([]Event, error) { return a.SetDeleteProtection("ws_a", true) }, nil, nil},
		{"allow-list is normalized: trimmed, unmapped, deduplicated, sorted", []Event{created},
			func(a *API) ([]Event, error) {
				return a.SetIPAllowlist([]string{" 5.6.7.8", "::ffff:1.2.3.4", "2001:DB8:0::1", "1.2.3.4", "5.6.7.8 "})
			},
			[]Event{APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_a", IPs: []string{"1.2.3.4", "5.6.7.8", "2001:db8::1"}}}, nil},
		{"the same allow-list again changes nothing", []Event{created, allowed},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"5.6.7.8", "1.2.3.4", "1.2.3.4"}) }, nil, nil},
		{"an empty allow-list clears it", []Event{created, allowed},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist(nil) },
			[]Event{APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_a", IPs: []string{}}}, nil},
		{"clearing an empty allow-list changes nothing", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{}) }, nil, nil},
		{"allow-list of a deleted api", []Event{created, deleted},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"1.2.3.4"}) }, nil, ErrNotFound},
		{"allow-list of a missing api", nil,
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"1.2.3.4"}) }, nil, ErrNotFound},
		{"a range is refused", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"1.2.3.4", "10.0.0.0/8"}) }, nil, ErrInvalidIP},
		{"a host name is refused", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"example.com"}) }, nil, ErrInvalidIP},
		{"a port is refused", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"1.2.3.4:80"}) }, nil, ErrInvalidIP},
		{"a zone is refused", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"fe80::1%eth0"}) }, nil, ErrInvalidIP},
		{"an empty entry is refused", []Event{created},
			func(a *API) ([]Event, error) { return a.SetIPAllowlist([]string{"1.2.3.4", ""}) }, nil, ErrInvalidIP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.when(givenAPI(tc.given...))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events = %#v, want %#v", got, tc.then)
			}
		})
	}
}

func TestWorkspaceAndRootKeyDecisions(t *testing.T) {
	var ws Workspace
	evs, err := ws.Create(" acme ")
	if err != nil {
		t.Fatal(err)
	}
	want := WorkspaceCreated{WorkspaceID: WorkspaceIDForName("acme"), Name: "acme"}
	if !reflect.DeepEqual(evs, []Event{want}) {
		t.Fatalf("workspace events = %#v", evs)
	}
	if WorkspaceIDForName("acme") != WorkspaceIDForName(" acme") || WorkspaceIDForName("acme") == WorkspaceIDForName("acme2") {
		t.Fatal("workspace IDs must derive from the trimmed name and differ between names")
	}
	var k RootKey
	if _, err := k.Create(&ws, RootKeyCreated{RootKeyID: "key_1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("root key in a missing workspace: err = %v, want ErrNotFound", err)
	}
	ws.Apply(evs[0])
	evs, err = k.Create(&ws, RootKeyCreated{RootKeyID: "key_1", Hash: "h", Permissions: []string{"a", "a", "", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got := evs[0].(RootKeyCreated)
	if got.WorkspaceID != want.WorkspaceID || !reflect.DeepEqual(got.Permissions, []string{"a", "b"}) {
		t.Fatalf("root key event = %#v", got)
	}
	k.Apply(got)
	if _, err := k.Create(&ws, got); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second creation: err = %v, want ErrAlreadyExists", err)
	}
}

func TestRootKeyRevokeDecisions(t *testing.T) {
	var k RootKey
	if _, err := k.Revoke(RevokedByOperator); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking a missing key: err = %v, want ErrNotFound", err)
	}
	k.Apply(RootKeyCreated{RootKeyID: "key_1", WorkspaceID: "ws_1", Hash: "h"})
	evs, err := k.Revoke(RevokedAsReplaced)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{RootKeyRevoked{RootKeyID: "key_1", WorkspaceID: "ws_1", Reason: "replaced"}}; !reflect.DeepEqual(evs, want) {
		t.Fatalf("revocation = %#v, want %#v", evs, want)
	}
	k.Apply(evs[0])
	if !k.Revoked || k.Version != 2 {
		t.Fatalf("state after revocation = %+v", k)
	}
	if _, err := k.Revoke(RevokedByOperator); !errors.Is(err, ErrRevoked) {
		t.Fatalf("second revocation: err = %v, want ErrRevoked", err)
	}
}

// A configured key is marked, or (in logs older than the mark) recognised by
// its ID, which only configured keys derive from their hash.
func TestRootKeyIsConfigured(t *testing.T) {
	hash := HashKey("kl_root_configured_0123")
	for _, tc := range []struct {
		c    RootKeyCreated
		want bool
	}{
		{RootKeyCreated{RootKeyID: "key_random", Hash: hash, Configured: true}, true},
		{RootKeyCreated{RootKeyID: RootKeyIDForHash(hash), Hash: hash}, true},
		{RootKeyCreated{RootKeyID: "key_random", Hash: hash}, false},
		{RootKeyCreated{RootKeyID: RootKeyIDForHash("initial"), Hash: hash}, false},
	} {
		if got := tc.c.IsConfigured(); got != tc.want {
			t.Errorf("%+v: IsConfigured = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestWorkspaceEnableDecisions(t *testing.T) {
	created := WorkspaceCreated{WorkspaceID: "ws_a", Name: "acme"}
	disabled := WorkspaceDisabled{WorkspaceID: "ws_a"}
	enabled := WorkspaceEnabled{WorkspaceID: "ws_a"}
	cases := []struct {
		name    string
		given   []Event
		enable  bool
		then    []Event
		wantErr error
	}{
		{"disable a live workspace", []Event{created}, false, []Event{disabled}, nil},
		{"disabling a disabled workspace changes nothing", []Event{created, disabled}, false, nil, nil},
		{"enable a disabled workspace", []Event{created, disabled}, true, []Event{enabled}, nil},
		{"enabling an enabled workspace changes nothing", []Event{created}, true, nil, nil},
		{"disable again after enable", []Event{created, disabled, enabled}, false, []Event{disabled}, nil},
		{"missing workspace", nil, false, nil, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ws Workspace
			for _, e := range tc.given {
				ws.Apply(e)
			}
			got, err := ws.SetEnabled(tc.enable)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events = %#v, want %#v", got, tc.then)
			}
		})
	}
}

func TestInvalidIPErrorNamesTheEntry(t *testing.T) {
	_, err := NormalizeIPs([]string{"1.2.3.4", " 10.0.0.0/8 "})
	var ipErr *InvalidIPError
	if !errors.As(err, &ipErr) || ipErr.Entry != "10.0.0.0/8" ||
		err.Error() != `invalid IP address "10.0.0.0/8": ranges (CIDR) are not supported, list each address` {
		t.Fatalf("err = %v", err)
	}
}

func TestHashKeyMatchesUnkey(t *testing.T) {
	// base64(sha256("hello")), the storage form Unkey uses.
	const want = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
	if got := HashKey("hello"); got != want {
		t.Fatalf("HashKey = %s", got)
	}
	// AppendKeyHash appends the same text, and KeyHashLen is its length.
	if got := string(AppendKeyHash([]byte("x:"), "hello")); got != "x:"+want || len(want) != KeyHashLen {
		t.Fatalf("AppendKeyHash = %s", got)
	}
}

func TestDecodeRoundTripsEveryEvent(t *testing.T) {
	samples := []Event{
		WorkspaceCreated{WorkspaceID: "ws_1", Name: "n"},
		WorkspaceDisabled{WorkspaceID: "ws_1"},
		WorkspaceEnabled{WorkspaceID: "ws_1"},
		RootKeyCreated{RootKeyID: "key_1", WorkspaceID: "ws_1", Hash: "h", Start: "s", Permissions: []string{"p"}, Configured: true},
		RootKeyRevoked{RootKeyID: "key_1", WorkspaceID: "ws_1", Reason: "cli"},
		APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "n"},
		APIDeleteProtectionChanged{APIID: "api_1", WorkspaceID: "ws_1", Enabled: true},
		APIDeleted{APIID: "api_1", WorkspaceID: "ws_1"},
		APIIPAllowlistSet{APIID: "api_1", WorkspaceID: "ws_1", IPs: []string{"10.0.0.1", "2001:db8::1"}},
		RatelimitNamespaceCreated{NamespaceID: "rlns_1", WorkspaceID: "ws_1", Name: "n"},
		RatelimitNamespaceDeleted{NamespaceID: "rlns_1", WorkspaceID: "ws_1"},
		RatelimitOverrideSet{OverrideID: "rlor_1", NamespaceID: "rlns_1", WorkspaceID: "ws_1", Identifier: "u_*", Limit: 3, DurationMs: 1000},
		RatelimitOverrideDeleted{OverrideID: "rlor_1", NamespaceID: "rlns_1", WorkspaceID: "ws_1", Identifier: "u_*"},
		KeyCreated{KeyID: "key_1", WorkspaceID: "ws_1", APIID: "api_1", KeySpaceID: "ks_1", Hash: "h", Start: "s", Name: "n",
			Meta: json.RawMessage(`{"a":1}`), IdentityID: "id_1", Enabled: true, Expires: ptr(int64(5)), Remaining: ptr(int64(3)),
			Refill: &Refill{Interval: "monthly", Amount: 3, Day: 31}, PermissionIDs: []string{"perm_1"}, RoleIDs: []string{"role_1"},
			Ratelimits: []Ratelimit{{ID: "rl_1", Name: "r", Limit: 1, Duration: 1000, AutoApply: true}},
			Encrypted:  &Encrypted{KeyringID: "k1", Ciphertext: "c"}, PendingMigrationID: "m", RerolledFrom: "key_0"},
		KeyUpdated{KeyID: "key_1", WorkspaceID: "ws_1", Name: &Change[string]{Value: ptr("x")}, IdentityID: &Change[string]{},
			Meta: &Change[json.RawMessage]{Value: ptr(json.RawMessage(`{"b":2}`))}, Expires: &Change[int64]{},
			Refill: &Change[Refill]{Value: &Refill{Interval: "daily", Amount: 1}}, Ratelimits: &[]Ratelimit{}},
		KeyEnabled{KeyID: "key_1", WorkspaceID: "ws_1"},
		KeyDisabled{KeyID: "key_1", WorkspaceID: "ws_1"},
		KeyDeleted{KeyID: "key_1", WorkspaceID: "ws_1", Permanent: true},
		KeyCreditsSet{KeyID: "key_1", WorkspaceID: "ws_1", Remaining: ptr(int64(7))},
		KeyCreditsIncremented{KeyID: "key_1", WorkspaceID: "ws_1", By: 2},
		KeyCreditsDecremented{KeyID: "key_1", WorkspaceID: "ws_1", By: 2, Result: 5},
		KeyCreditsSpent{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 9, Epoch: 2},
		KeyRefilled{KeyID: "key_1", WorkspaceID: "ws_1", Amount: 10, Period: "2026-11-26"},
		KeyPermissionsAdded{KeyID: "key_1", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}},
		KeyPermissionsRemoved{KeyID: "key_1", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}},
		KeyPermissionsSet{KeyID: "key_1", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}},
		KeyRolesAdded{KeyID: "key_1", WorkspaceID: "ws_1", RoleIDs: []string{"role_1"}},
		KeyRolesRemoved{KeyID: "key_1", WorkspaceID: "ws_1", RoleIDs: []string{"role_1"}},
		KeyRolesSet{KeyID: "key_1", WorkspaceID: "ws_1", RoleIDs: []string{"role_1"}},
		KeyRerolled{KeyID: "key_1", WorkspaceID: "ws_1", NewKeyID: "key_2", Expires: 60000},
		KeyMigrated{KeyID: "key_1", WorkspaceID: "ws_1", OldHash: "o", Hash: "h", Start: "s"},
		IdentityCreated{IdentityID: "id_1", WorkspaceID: "ws_1", ExternalID: "user_1", Meta: json.RawMessage(`{"c":3}`),
			Ratelimits: []Ratelimit{{ID: "rl_2", Name: "r", Limit: 1, Duration: 1000}}},
		IdentityUpdated{IdentityID: "id_1", WorkspaceID: "ws_1", Meta: &Change[json.RawMessage]{Value: ptr(json.RawMessage(`{}`))},
			Ratelimits: &[]Ratelimit{}},
		IdentityDeleted{IdentityID: "id_1", WorkspaceID: "ws_1", ExternalID: "user_1"},
		PermissionCreated{PermissionID: "perm_1", WorkspaceID: "ws_1", Slug: "docs.read", Name: "docs.read", Description: "d"},
		PermissionDeleted{PermissionID: "perm_1", WorkspaceID: "ws_1", Slug: "docs.read"},
		RoleCreated{RoleID: "role_1", WorkspaceID: "ws_1", Name: "admin", Description: "d", PermissionIDs: []string{"perm_1"}},
		RolePermissionsSet{RoleID: "role_1", WorkspaceID: "ws_1", PermissionIDs: []string{"perm_1"}},
		RoleDeleted{RoleID: "role_1", WorkspaceID: "ws_1", Name: "admin"},
		PortalCreated{PortalID: "pc_1", WorkspaceID: "ws_1", Name: "p", APIIDs: []string{"api_1"}, KeySpaceIDs: []string{"ks_1"}, ReturnURL: "https://x"},
		PortalDeleted{PortalID: "pc_1", WorkspaceID: "ws_1"},
		PortalSessionCreated{SessionID: "ps_1", PortalID: "pc_1", WorkspaceID: "ws_1", ExternalID: "u", Scopes: []string{"keys:read"},
			Permissions: []string{"api.api_1.read_key"}, Preview: true, ReturnURL: "https://x", RootKeyID: "key_1", CodeHash: "h", CodeExpiresAt: 9},
		PortalSessionExchanged{SessionID: "ps_1", TokenHash: "t", ExpiresAt: 10},
	}
	if len(samples) != len(Known()) {
		t.Fatalf("samples cover %d events, registry has %d: %v", len(samples), len(Known()), Known())
	}
	for _, e := range samples {
		payload := mustJSON(t, e)
		got, err := Decode(e.EventName(), e.EventVersion(), payload)
		if err != nil {
			t.Fatalf("%s: %v", e.EventName(), err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: decoded %#v, want %#v", e.EventName(), got, e)
		}
	}
	if _, err := Decode("api.created", 99, []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("unknown version: err = %v", err)
	}
}
