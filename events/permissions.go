package events

// Root-key permission vocabulary (legacy tuples "<resource>.<id>.<action>").
// Matching is exact string match, as in Unkey: "*" inside a tuple is a literal
// that handlers check for explicitly, never a glob.
var actionsByResource = map[string][]string{
	"api": {"create_api", "read_api", "update_api", "delete_api", "create_key", "read_key",
		"update_key", "delete_key", "encrypt_key", "decrypt_key", "verify_key", "read_analytics"},
	"ratelimit": {"limit", "create_namespace", "read_namespace", "update_namespace", "delete_namespace",
		"set_override", "read_override", "delete_override", "list_overrides", "read_analytics"},
	"rbac": {"create_permission", "read_permission", "update_permission", "delete_permission",
		"create_role", "read_role", "update_role", "delete_role", "add_permission_to_key",
		"remove_permission_from_key", "add_role_to_key", "remove_role_from_key",
		"add_permission_to_role", "remove_permission_from_role"},
	"identity": {"create_identity", "read_identity", "update_identity", "delete_identity"},
	"portal":   {"create_portal_session", "read_portal", "create_portal", "delete_portal"},
	// keyline's own: the audit log reaches across every resource of the
	// workspace, so it is granted on the workspace.
	"workspace": {"read_audit_log"},
}

var resourceOrder = []string{"api", "ratelimit", "rbac", "identity", "portal", "workspace"}

// AllRootPermissions is the grant of a root key "with every permission": each
// action on the wildcard resource of every resource type keyline serves.
func AllRootPermissions() []string {
	var out []string
	for _, r := range resourceOrder {
		for _, a := range actionsByResource[r] {
			out = append(out, r+".*."+a)
		}
	}
	return out
}

// RootResources lists the resource types of the tuple grammar, in order.
func RootResources() []string { return append([]string(nil), resourceOrder...) }

// RootActions lists the actions resource has, or nil for a resource keyline
// does not know.
func RootActions(resource string) []string {
	return append([]string(nil), actionsByResource[resource]...)
}
