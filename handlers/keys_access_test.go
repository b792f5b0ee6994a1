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
		_, errPerm := (&KeyPermissions{}).Handle(context.Background(), p, op, "key_1", []string{"a"})
		_, errRole := (&KeyRoles{}).Handle(context.Background(), p, op, "key_1", []string{"a"})
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
