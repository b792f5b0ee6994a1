// Package openapi holds keyline's HTTP contract and enforces it on requests.
//
// keyline is wire-compatible with Unkey's v2 API, so the request-validation
// contract is Unkey's own OpenAPI schema, not rules re-typed by hand: the same
// bodies are rejected, with the same keyword locations and messages
// ("/properties/name/minLength", "minLength: got 2, want 3"), before
// authentication runs, exactly as Unkey does it.
//
// openapi.yaml is generated from Unkey's bundled document by ./gen, keeping
// only the operations keyline serves and the components they reference. It is
// embedded and served as-is at GET /openapi.yaml.
//
// NewValidator compiles the request-body schema of every operation once, at
// start-up. An older Unkey build recompiled the schema on every request and
// spent 38% of its CPU doing it; per request, keyline only decodes the body
// and walks the precompiled schema.
//
// To serve a new operation, add its operationId to -ops in the go:generate
// line below (the single list of served operations) and run
// go generate ./handlers/httpapi/openapi/ from the module root.
package openapi

//go:generate go run -C ../../.. ./handlers/httpapi/openapi/gen -src ../shared/reference/unkey-openapi-v2.yaml -out handlers/httpapi/openapi/openapi.yaml -ops liveness,apis.createApi,apis.getApi,apis.deleteApi,apis.listKeys,keys.createKey,keys.getKey,keys.whoami,keys.deleteKey,keys.updateKey,keys.updateCredits,keys.verifyKey,keys.addPermissions,keys.removePermissions,keys.setPermissions,keys.addRoles,keys.removeRoles,keys.setRoles,keys.rerollKey,keys.migrateKeys,ratelimit.limit,ratelimit.multiLimit,ratelimit.setOverride,ratelimit.getOverride,ratelimit.listOverrides,ratelimit.deleteOverride,identities.createIdentity,identities.getIdentity,identities.listIdentities,identities.updateIdentity,identities.deleteIdentity,permissions.createPermission,permissions.getPermission,permissions.listPermissions,permissions.deletePermission,permissions.createRole,permissions.getRole,permissions.listRoles,permissions.deleteRole,permissions.setRolePermissions,analytics.getVerifications,analytics.getRatelimits
