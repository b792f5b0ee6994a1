// Conformance of permissions.* (permissions and roles) with Unkey's official
// SDK: every response below passes the SDK's strict response validation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const readOnlyKey = process.env.KEYLINE_READONLY_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

test("permissions: create → get → list → role with permissions → set → verify → delete", async () => {
  const { data: p } = await unkey.permissions.createPermission({ name: "Read docs", slug: "sdk.docs.read", description: "reads" });
  assert.match(p.permissionId, /^perm_/);
  await assert.rejects(unkey.permissions.createPermission({ name: "again", slug: "sdk.docs.read" }), (err) => {
    assert.ok(err instanceof errors.ConflictErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    return true;
  });
  for (const permission of [p.permissionId, "sdk.docs.read"]) {
    const got = await unkey.permissions.getPermission({ permission });
    assert.deepEqual(got.data, { id: p.permissionId, name: "Read docs", slug: "sdk.docs.read", description: "reads" });
  }
  await unkey.permissions.createPermission({ name: "Write docs", slug: "sdk.docs.write" });
  const page = await unkey.permissions.listPermissions({ limit: 1 });
  assert.equal(page.result.data.length, 1);
  assert.equal(page.result.pagination.hasMore, true);
  const searched = await unkey.permissions.listPermissions({ search: "SDK.DOCS.WRITE" });
  assert.deepEqual(searched.result.data.map((x) => x.slug), ["sdk.docs.write"]);

  const { data: role } = await unkey.permissions.createRole({ name: "sdk_editor", description: "edits", permissions: ["sdk.docs.read"] });
  assert.match(role.roleId, /^role_/);
  await assert.rejects(unkey.permissions.createRole({ name: "sdk_editor" }), (err) => {
    assert.ok(err instanceof errors.ConflictErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    return true;
  });
  const got = await unkey.permissions.getRole({ role: "sdk_editor" });
  assert.equal(got.data.id, role.roleId);
  assert.deepEqual(got.data.permissions.map((x) => x.slug), ["sdk.docs.read"]);
  const set = await unkey.permissions.setRolePermissions({ roleId: role.roleId, permissions: ["sdk.docs.read", "sdk.docs.write", "sdk.docs.new"] });
  assert.deepEqual(set.data.map((x) => x.slug).sort(), ["sdk.docs.new", "sdk.docs.read", "sdk.docs.write"]);
  const roles = await unkey.permissions.listRoles({ search: "EDIT" });
  assert.equal(roles.result.data.length, 1);
  assert.equal(roles.result.data[0].permissions.length, 3);

  const { data: api } = await unkey.apis.createApi({ name: "sdk rbac" });
  const { data: k } = await unkey.keys.createKey({ apiId: api.apiId, roles: ["sdk_editor"] });
  assert.equal((await unkey.keys.verifyKey({ key: k.key, permissions: "sdk.docs.write" })).data.code, "VALID");

  assert.deepEqual((await unkey.permissions.deletePermission({ permission: "sdk.docs.write" })).data, {});
  assert.equal((await unkey.keys.verifyKey({ key: k.key, permissions: "sdk.docs.write" })).data.code, "INSUFFICIENT_PERMISSIONS");
  await assert.rejects(unkey.permissions.getPermission({ permission: "sdk.docs.write" }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/permission_not_found");
    return true;
  });

  assert.deepEqual((await unkey.permissions.deleteRole({ role: role.roleId })).data, {});
  assert.equal((await unkey.keys.verifyKey({ key: k.key, permissions: "sdk.docs.read" })).data.code, "INSUFFICIENT_PERMISSIONS");
  await assert.rejects(unkey.permissions.getRole({ role: role.roleId }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/role_not_found");
    return true;
  });
});

test("permissions: a missing permission is ForbiddenErrorResponse naming it", async () => {
  const reader = new Unkey({ serverURL, rootKey: readOnlyKey, retryConfig: { strategy: "none" } });
  await assert.rejects(reader.permissions.listRoles({}), (err) => {
    assert.ok(err instanceof errors.ForbiddenErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.detail, "Missing permission: 'rbac.*.read_role'");
    return true;
  });
});
