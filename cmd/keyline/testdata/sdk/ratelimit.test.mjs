// Conformance of ratelimit.* (and the key role endpoints not covered
// elsewhere) with Unkey's official SDK: every response below passes the
// SDK's strict response validation, or the call throws.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

test("ratelimit: limit → multiLimit → overrides", async () => {
  const namespace = `sdk.${randomUUID()}`;
  const first = await unkey.ratelimit.limit({ namespace, identifier: "user_1", limit: 2, duration: 60000 });
  assert.equal(first.data.success, true);
  assert.equal(first.data.limit, 2);
  assert.equal(first.data.remaining, 1);
  assert.ok(first.data.reset > Date.now());
  await unkey.ratelimit.limit({ namespace, identifier: "user_1", limit: 2, duration: 60000 });
  const denied = await unkey.ratelimit.limit({ namespace, identifier: "user_1", limit: 2, duration: 60000 });
  assert.equal(denied.data.success, false);
  assert.equal(denied.data.remaining, 0);

  const multi = await unkey.ratelimit.multiLimit([
    { namespace, identifier: "user_2", limit: 5, duration: 60000 },
    { namespace, identifier: "user_1", limit: 2, duration: 60000 },
  ]);
  assert.equal(multi.data.passed, false);
  assert.deepEqual(multi.data.limits.map((l) => [l.identifier, l.passed]), [["user_2", true], ["user_1", false]]);

  const set = await unkey.ratelimit.setOverride({ namespace, identifier: "vip_*", limit: 100, duration: 1000 });
  assert.match(set.data.overrideId, /^rlor_/);
  const again = await unkey.ratelimit.setOverride({ namespace, identifier: "vip_*", limit: 200, duration: 1000 });
  assert.equal(again.data.overrideId, set.data.overrideId);

  const got = await unkey.ratelimit.getOverride({ namespace, identifier: "vip_*" });
  assert.deepEqual(got.data, { overrideId: set.data.overrideId, identifier: "vip_*", limit: 200, duration: 1000 });

  const vip = await unkey.ratelimit.limit({ namespace, identifier: "vip_7", limit: 1, duration: 60000 });
  assert.equal(vip.data.limit, 200);
  assert.equal(vip.data.overrideId, set.data.overrideId);

  const pages = await unkey.ratelimit.listOverrides({ namespace });
  assert.deepEqual(pages.result.data.map((o) => o.identifier), ["vip_*"]);
  assert.equal(pages.result.pagination.hasMore, false);

  const deleted = await unkey.ratelimit.deleteOverride({ namespace, identifier: "vip_*" });
  assert.deepEqual(deleted.data, {});
  await assert.rejects(unkey.ratelimit.getOverride({ namespace, identifier: "vip_*" }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    return true;
  });
});

test("keys: addRoles → removeRoles, removePermissions", async () => {
  const { data: api } = await unkey.apis.createApi({ name: "sdk roles" });
  const role = `reader_${randomUUID().slice(0, 8)}`;
  await unkey.permissions.createRole({ name: role });
  const { data: created } = await unkey.keys.createKey({ apiId: api.apiId, permissions: ["docs.read", "docs.write"] });
  const added = await unkey.keys.addRoles({ keyId: created.keyId, roles: [role] });
  assert.deepEqual(added.data.map((r) => r.name), [role]);
  const removed = await unkey.keys.removeRoles({ keyId: created.keyId, roles: [role] });
  assert.deepEqual(removed.data, []);
  const perms = await unkey.keys.removePermissions({ keyId: created.keyId, permissions: ["docs.write"] });
  assert.deepEqual(perms.data.map((p) => p.slug), ["docs.read"]);
});
