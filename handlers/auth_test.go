package handlers

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// fakeFinder serves one root key in workspace ws_1; during is called in the
// middle of each lookup, where a concurrent invalidation could land.
type fakeFinder struct {
	disabled bool
	revoked  bool
	lookups  int
	during   func()
}

func (f *fakeFinder) RootKeyByHash(_ context.Context, hash string) (projections.RootKeyRow, error) {
	if hash != events.HashKey("kl_root_test") {
		return projections.RootKeyRow{}, events.ErrNotFound
	}
	f.lookups++
	row := projections.RootKeyRow{ID: "key_1", WorkspaceID: "ws_1", Permissions: []string{"api.*.verify_key"}}
	if f.revoked {
		row.RevokedAt = new(int64)
	}
	return row, nil
}

func (f *fakeFinder) Workspace(_ context.Context, id string) (projections.WorkspaceRow, error) {
	row := projections.WorkspaceRow{ID: id}
	if f.disabled {
		row.DisabledAt = new(int64)
	}
	if f.during != nil {
		f.during()
	}
	return row, nil
}

func TestAuthenticatorWorkspaceDisabled(t *testing.T) {
	ctx := context.Background()
	f := &fakeFinder{disabled: true}
	a := NewAuthenticator(f)
	_, err := a.Authenticate(ctx, "Bearer kl_root_test")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeWorkspaceDisabled || e.Detail != "The workspace is disabled." {
		t.Fatalf("root key of a disabled workspace: err = %v", err)
	}
	// verifyKey's authentication accepts it: its keys answer FORBIDDEN in band.
	if p, err := a.Resolve(ctx, "Bearer kl_root_test"); err != nil || p.WorkspaceID != "ws_1" {
		t.Fatalf("Resolve = %v, %v", p, err)
	}
	f.disabled = false
	a.Observe(events.Recorded{Name: "workspace.enabled"})
	if _, err := a.Authenticate(ctx, "Bearer kl_root_test"); err != nil {
		t.Fatalf("after workspace.enabled: %v", err)
	}
}

// A cached root key is refused once root_key.revoked is observed, on both
// authentication paths, with the answer an unknown key gets.
func TestAuthenticatorRefusesRevokedRootKey(t *testing.T) {
	ctx := context.Background()
	f := &fakeFinder{}
	a := NewAuthenticator(f)
	if _, err := a.Authenticate(ctx, "Bearer kl_root_test"); err != nil {
		t.Fatal(err)
	}
	f.revoked = true
	if _, err := a.Authenticate(ctx, "Bearer kl_root_test"); err != nil || f.lookups != 1 {
		t.Fatalf("before the event is observed the cached principal serves: err = %v after %d lookups", err, f.lookups)
	}
	a.Observe(events.Recorded{Name: "root_key.revoked"})
	_, unknown := a.Authenticate(ctx, "Bearer kl_root_other")
	for name, auth := range map[string]func(context.Context, string) (*Principal, error){"Authenticate": a.Authenticate, "Resolve": a.Resolve} {
		_, err := auth(ctx, "Bearer kl_root_test")
		var e, u *Error
		if !errors.As(err, &e) || !errors.As(unknown, &u) || e.Code != CodeKeyNotFound || e.Detail != u.Detail {
			t.Fatalf("%s of a revoked key: err = %v, want the unknown key's %v", name, err, unknown)
		}
	}
}

// A principal read before an invalidation and stored after it must not
// outlive it: the next request reads again.
func TestAuthenticatorDropsFillRacingAnInvalidation(t *testing.T) {
	ctx := context.Background()
	f := &fakeFinder{}
	a := NewAuthenticator(f)
	f.during = func() {
		f.during = nil
		a.Observe(events.Recorded{Name: "workspace.disabled"}) // lands mid-fill; f still answers enabled
	}
	if _, err := a.Authenticate(ctx, "Bearer kl_root_test"); err != nil {
		t.Fatal(err)
	}
	f.disabled = true
	if _, err := a.Authenticate(ctx, "Bearer kl_root_test"); err == nil || f.lookups != 2 {
		t.Fatalf("the racing fill was kept: err = %v after %d lookups", err, f.lookups)
	}
	if _, err := a.Resolve(ctx, "Bearer kl_root_test"); err != nil || f.lookups != 2 {
		t.Fatalf("an undisturbed fill is cached: err = %v after %d lookups", err, f.lookups)
	}
}

func TestIPAllowed(t *testing.T) {
	allowed := []netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("2001:db8::1")}
	for ip, want := range map[string]bool{
		"1.2.3.4":          true,
		"::ffff:1.2.3.4":   true, // the same address, IPv4-mapped
		"2001:0db8:0::1":   true, // another spelling
		"2001:db8::1%eth0": true, // a zone names the interface, not another address
		"1.2.3.5":          false,
		"":                 false,
		"not-an-ip":        false,
	} {
		if got := ipAllowed(allowed, ip); got != want {
			t.Errorf("ipAllowed(%q) = %v, want %v", ip, got, want)
		}
	}
}

func TestNewMigrations(t *testing.T) {
	m, err := NewMigrations(&configs.Config{Migrations: []configs.Migration{
		{ID: "acme", Algorithm: configs.MigrationPrefixedAPIKey}, {ID: "old", Algorithm: configs.MigrationSHA256}}})
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.Algorithm("acme"); !ok || a != configs.MigrationPrefixedAPIKey {
		t.Fatalf("acme = %q, %v", a, ok)
	}
	if _, ok := m.Algorithm("nope"); ok {
		t.Fatal("an unconfigured id is known")
	}
	for _, bad := range [][]configs.Migration{
		{{ID: "a_1", Algorithm: "sha256"}, {ID: "a_1", Algorithm: "sha256"}},
		{{ID: "a_1", Algorithm: "md5"}},
	} {
		if _, err := NewMigrations(&configs.Config{Migrations: bad}); err == nil {
			t.Errorf("NewMigrations(%v) accepted it", bad)
		}
	}
}
