package handlers

import (
	"strings"
	"testing"

	"github.com/keyline/keyline/events"
)

func TestCheckRootPermissions(t *testing.T) {
	const ws = "ws_1"
	for _, tc := range []struct {
		perm string
		// reason is part of the error detail; "" means accepted.
		reason string
	}{
		{"api.*.create_api", ""},
		{"api.api_123.read_key", ""},
		{"ratelimit.rlns_0123456789abcdef.limit", ""},
		{"identity.*.delete_identity", ""},
		{"rbac.*.add_role_to_key", ""},
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/*#verify_key", ""},
		{"unkey:v1:ws_1:**#*", ""},
		{"api.*.frobnicate", `api has no action "frobnicate" (known: create_api,`},
		{"api.*.limit", `api has no action "limit"`},
		{"apis.*.create_api", `unknown resource "apis" (known: api, ratelimit, rbac, identity, portal, workspace)`},
		{"api.create_api", "a permission is <resource>.<id or *>.<action>"},
		{"api..create_api", "a permission is <resource>.<id or *>.<action>"},
		{"api.a.b.create_api", "a permission is <resource>.<id or *>.<action>"},
		{"api.* .create_api", "a permission is <resource>.<id or *>.<action>"},
		{"create_api", "a permission is <resource>.<id or *>.<action>"},
		{"unkey:v1:ws_1:keyspaces/ks_1", "a resource permission is unkey:v1:<workspaceId>:<path>#<action>"},
		{"unkey:v1:ws_1:keyspaces/**#*", "a resource permission is"},
		{"unkey:v1:ws_2:**#*", "it names workspace ws_2, but the root key belongs to ws_1"},
	} {
		err := CheckRootPermissions(ws, []string{"api.*.read_api", tc.perm})
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%q refused: %v", tc.perm, err)
			}
			continue
		}
		e := AsError(err)
		if err == nil || e.Code != CodeInvalidInput || !strings.HasPrefix(e.Detail, "invalid permission \""+tc.perm+"\": ") ||
			!strings.Contains(e.Detail, tc.reason) {
			t.Errorf("%q: err = %v, want invalid_input naming it and %q", tc.perm, err, tc.reason)
		}
	}
	// Every permission a root key "with every permission" holds passes.
	if err := CheckRootPermissions(ws, events.AllRootPermissions()); err != nil {
		t.Fatal(err)
	}
}
