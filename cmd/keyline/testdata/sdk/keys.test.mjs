// Conformance of keys.* with Unkey's official SDK: every response below
// passes the SDK's strict response validation, or the call throws.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

test("keys: create → get → whoami → verify → update → credits → permissions → reroll → list → delete", async () => {
  const { data: api } = await unkey.apis.createApi({ name: "sdk keys" });
  const created = await unkey.keys.createKey({
    apiId: api.apiId, prefix: "sdk", name: "conformance", externalId: "sdk_user",
    meta: { plan: "pro" }, permissions: ["docs.read"], expires: Date.now() + 3600_000,
    credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 1 } },
    ratelimits: [{ name: "requests", limit: 100, duration: 60000, autoApply: true }],
  });
  const { keyId, key } = created.data;
  assert.match(keyId, /^key_/);
  assert.match(key, /^sdk_/);

  const got = await unkey.keys.getKey({ keyId });
  assert.equal(got.data.keyId, keyId);
  assert.equal(got.data.credits.remaining, 10);
  assert.equal(got.data.identity.externalId, "sdk_user");
  assert.deepEqual(got.data.permissions, ["docs.read"]);

  const who = await unkey.keys.whoami({ key });
  assert.equal(who.data.keyId, keyId);

  const ok = await unkey.keys.verifyKey({ key, permissions: "docs.read", credits: { cost: 2 } });
  assert.equal(ok.data.valid, true);
  assert.equal(ok.data.code, "VALID");
  assert.equal(ok.data.credits, 8);
  assert.equal(ok.data.identity.externalId, "sdk_user");

  const missing = await unkey.keys.verifyKey({ key: "sdk_nope" });
  assert.deepEqual(missing.data, { valid: false, code: "NOT_FOUND" });

  const denied = await unkey.keys.verifyKey({ key, permissions: "admin" });
  assert.equal(denied.data.code, "INSUFFICIENT_PERMISSIONS");

  const updated = await unkey.keys.updateKey({ keyId, name: null, enabled: false, meta: { plan: "team" } });
  assert.deepEqual(updated.data, {});
  const disabled = await unkey.keys.verifyKey({ key });
  assert.equal(disabled.data.code, "DISABLED");
  assert.equal(disabled.data.enabled, false);
  await unkey.keys.updateKey({ keyId, enabled: true });

  const credits = await unkey.keys.updateCredits({ keyId, operation: "increment", value: 5 });
  assert.equal(credits.data.remaining, 13);
  assert.equal(credits.data.refill.interval, "monthly");

  const perms = await unkey.keys.addPermissions({ keyId, permissions: ["docs.write"] });
  assert.deepEqual(perms.data.map((p) => p.slug), ["docs.read", "docs.write"]);
  const setPerms = await unkey.keys.setPermissions({ keyId, permissions: ["docs.write"] });
  assert.deepEqual(setPerms.data.map((p) => p.slug), ["docs.write"]);
  const roles = await unkey.keys.setRoles({ keyId, roles: [] });
  assert.deepEqual(roles.data, []);

  const rerolled = await unkey.keys.rerollKey({ keyId, expiration: 60000 });
  assert.notEqual(rerolled.data.keyId, keyId);

  const page = await unkey.apis.listKeys({ apiId: api.apiId, limit: 1 });
  assert.equal(page.result.data.length, 1);
  assert.equal(page.result.pagination.hasMore, true);

  const migrated = await unkey.keys.migrateKeys({ migrationId: "sdk_mig", apiId: api.apiId, keys: [{ hash: "deadbeef00" }] });
  assert.equal(migrated.data.migrated.length, 1);
  assert.deepEqual(migrated.data.failed, []);
  await assert.rejects(
    unkey.keys.migrateKeys({ migrationId: "sdk_undeclared", apiId: api.apiId, keys: [{ hash: "deadbeef01" }] }),
    (err) => {
      assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/migration_not_found");
      return true;
    },
  );

  const deleted = await unkey.keys.deleteKey({ keyId });
  assert.deepEqual(deleted.data, {});
  await assert.rejects(unkey.keys.getKey({ keyId }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/key_not_found");
    return true;
  });
});
