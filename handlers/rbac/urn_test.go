package rbac

import "testing"

func TestGrantAllows(t *testing.T) {
	const ws = "ws_1"
	for _, tc := range []struct {
		grant, required string
		want            bool
	}{
		// exact
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/key_1#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), true},
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/key_1#verify_key", URN(ws, "keyspaces/ks_1/keys/key_2", "verify_key"), false},
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/key_1#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "read_key"), false},
		// the workspace must match exactly
		{"unkey:v1:ws_2:keyspaces/ks_1/keys/key_1#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), false},
		{"unkey:v1:*:keyspaces/ks_1/keys/key_1#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), false},
		// "*" is one segment
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/*#verify_key", URN(ws, "keyspaces/ks_1/keys/key_9", "verify_key"), true},
		{"unkey:v1:ws_1:keyspaces/*/keys/*#verify_key", URN(ws, "keyspaces/ks_2/keys/key_9", "verify_key"), true},
		{"unkey:v1:ws_1:keyspaces/*#create_key", URN(ws, "keyspaces/ks_2", "create_key"), true},
		{"unkey:v1:ws_1:keyspaces/*#create_key", URN(ws, "keyspaces/ks_2/keys/key_1", "create_key"), false},
		{"unkey:v1:ws_1:keyspaces/ks_1/keys/*#verify_key", URN(ws, "keyspaces/ks_1/keys", "verify_key"), false},
		{"unkey:v1:ws_1:keyspaces/ks_1/*#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), false},
		// a required "*" (any identity) is only covered by a wildcard grant
		{"unkey:v1:ws_1:projects/*/identities/*#create_identity", URN(ws, "projects/*/identities/*", "create_identity"), true},
		{"unkey:v1:ws_1:projects/p1/identities/*#create_identity", URN(ws, "projects/*/identities/*", "create_identity"), false},
		// trailing "**": the base path and every descendant
		{"unkey:v1:ws_1:keyspaces/ks_1/**#verify_key", URN(ws, "keyspaces/ks_1", "verify_key"), true},
		{"unkey:v1:ws_1:keyspaces/ks_1/**#verify_key", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), true},
		{"unkey:v1:ws_1:keyspaces/ks_1/**#verify_key", URN(ws, "keyspaces/ks_2/keys/key_1", "verify_key"), false},
		{"unkey:v1:ws_1:keyspaces/**#read_key", URN(ws, "keyspaces/ks_1/keys/key_1", "read_key"), true},
		{"unkey:v1:ws_1:**#read_key", URN(ws, "rbac/permissions/*", "read_key"), true},
		{"unkey:v1:ws_1:**#read_key", URN(ws, "rbac/permissions/*", "create_permission"), false},
		// the admin grant
		{"unkey:v1:ws_1:**#*", URN(ws, "keyspaces/ks_1/keys/key_1", "verify_key"), true},
		{"unkey:v1:ws_1:**#*", URN(ws, "rbac/permissions/*", "create_permission"), true},
		{"unkey:v1:ws_1:**#*", URN("ws_2", "rbac/permissions/*", "create_permission"), false},
		// action "*" only with resource "**"
		{"unkey:v1:ws_1:keyspaces/**#*", URN(ws, "keyspaces/ks_1", "create_key"), false},
		{"unkey:v1:ws_1:keyspaces/ks_1#*", URN(ws, "keyspaces/ks_1", "create_key"), false},
		// malformed grants grant nothing
		{"unkey:v1:ws_1:keyspaces//keys#verify_key", URN(ws, "keyspaces//keys", "verify_key"), false},
		{"unkey:v1:ws_1:**/keys#verify_key", URN(ws, "x/keys", "verify_key"), false},
		{"unkey:v1:ws_1:keyspaces/ks_1", URN(ws, "keyspaces/ks_1", ""), false},
		{"unkey:v1::keyspaces/ks_1#create_key", URN("", "keyspaces/ks_1", "create_key"), false},
		{"UNKEY:V1:ws_1:**#*", URN(ws, "keyspaces/ks_1", "create_key"), false},
		// a legacy tuple is never a URN
		{"api.*.verify_key", "api.*.verify_key", false},
		// the grant's case matters
		{"unkey:v1:ws_1:keyspaces/KS_1#create_key", URN(ws, "keyspaces/ks_1", "create_key"), false},
	} {
		g, ok := Parse(tc.grant)
		got := ok && g.Allows(tc.required)
		if got != tc.want {
			t.Errorf("grant %q allows %q = %v, want %v", tc.grant, tc.required, got, tc.want)
		}
	}
}
