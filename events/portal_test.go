package events

import (
	"errors"
	"testing"
)

func TestPortalSessionCodeIsSingleUseAndExpires(t *testing.T) {
	var s PortalSession
	c := PortalSessionCreated{SessionID: "ps_1", PortalID: "pc_1", WorkspaceID: "ws_1", ExternalID: "u",
		Scopes: []string{PortalScopeKeysRead}, CodeHash: "code", CodeExpiresAt: 1000}
	evs, err := s.Create(c)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Create = %v, %v", evs, err)
	}
	s.Apply(evs[0])
	if _, err := s.Exchange("other", 10, "tok", 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong code: %v, want ErrNotFound", err)
	}
	if _, err := s.Exchange("code", 1000, "tok", 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired code: %v, want ErrNotFound", err)
	}
	evs, err = s.Exchange("code", 999, "tok", 99)
	if err != nil || len(evs) != 1 || evs[0].(PortalSessionExchanged).TokenHash != "tok" {
		t.Fatalf("Exchange = %v, %v", evs, err)
	}
	s.Apply(evs[0])
	if _, err := s.Exchange("code", 10, "tok2", 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second redemption: %v, want ErrNotFound", err)
	}
}

func TestPortalSessionRefusesUnknownScope(t *testing.T) {
	var s PortalSession
	if _, err := s.Create(PortalSessionCreated{SessionID: "ps_1", Scopes: []string{"keys:delete"}, CodeHash: "h"}); !errors.Is(err, ErrPortalInvalid) {
		t.Fatalf("unknown scope: %v", err)
	}
	if _, err := s.Create(PortalSessionCreated{SessionID: "ps_1", CodeHash: "h"}); !errors.Is(err, ErrPortalInvalid) {
		t.Fatalf("no scope: %v", err)
	}
}

func TestPortalCreateAndDelete(t *testing.T) {
	var p Portal
	if _, err := p.Create(PortalCreated{PortalID: "pc_1", WorkspaceID: "ws_1", Name: "n"}); !errors.Is(err, ErrPortalInvalid) {
		t.Fatalf("no API: %v", err)
	}
	evs, err := p.Create(PortalCreated{PortalID: "pc_1", WorkspaceID: "ws_1", Name: "n", APIIDs: []string{"api_1"}, KeySpaceIDs: []string{"ks_1"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Apply(evs[0])
	if _, err := p.Delete("ws_2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign delete: %v", err)
	}
	evs, err = p.Delete("ws_1")
	if err != nil || evs[0] != (PortalDeleted{PortalID: "pc_1", WorkspaceID: "ws_1"}) {
		t.Fatalf("Delete = %v, %v", evs, err)
	}
	p.Apply(evs[0])
	if _, err := p.Delete("ws_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
