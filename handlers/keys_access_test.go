package handlers

import (
	"context"
	"errors"
	"testing"
)

// An operation the use cases do not know fails before anything is looked
// up or written: it never falls through to "set" and its checks.
func TestUnknownAccessChangeIsRefused(t *testing.T) {
	p := &Principal{WorkspaceID: "ws_1"}
	for _, op := range []AccessChange{0, AccessSet + 1} {
		_, errPerm := (&KeyPermissions{}).Handle(context.Background(), p, KeyPermissionsInput{Change: op, KeyID: "key_1", Permissions: []string{"a"}})
		_, errRole := (&KeyRoles{}).Handle(context.Background(), p, KeyRolesInput{Change: op, KeyID: "key_1", Roles: []string{"a"}})
		for _, err := range []error{errPerm, errRole} {
			var he *Error
			if !errors.As(err, &he) || he.Code != CodeUnexpected {
				t.Errorf("%v: got %v, want an internal error", op, err)
			}
		}
	}
	if AccessAdd.String() != "add" || AccessRemove.String() != "remove" || AccessSet.String() != "set" {
		t.Errorf("names: %v %v %v", AccessAdd, AccessRemove, AccessSet)
	}
}

// The same for keys.updateCredits: an unknown operation is refused before
// the key is looked up (UpdateCredits has no log or reader here, so any
// lookup would panic), never taken for a decrement.
func TestUnknownCreditOperationIsRefused(t *testing.T) {
	p := &Principal{WorkspaceID: "ws_1"}
	one := int64(1)
	for _, op := range []CreditOperation{0, CreditsDecrement + 1} {
		_, err := (&UpdateCredits{}).Handle(context.Background(), p, UpdateCreditsInput{KeyID: "key_1", Operation: op, Value: &one})
		var he *Error
		if !errors.As(err, &he) || he.Code != CodeUnexpected {
			t.Errorf("%d: got %v, want an internal error", op, err)
		}
	}
	for s, want := range map[string]CreditOperation{"set": CreditsSet, "increment": CreditsIncrement, "decrement": CreditsDecrement} {
		if got, ok := ParseCreditOperation(s); !ok || got != want {
			t.Errorf("ParseCreditOperation(%q) = %v, %v", s, got, ok)
		}
	}
	if _, ok := ParseCreditOperation("Set"); ok {
		t.Error(`ParseCreditOperation("Set") succeeded`)
	}
}
