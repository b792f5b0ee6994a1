// Conformance of identities.* with Unkey's official SDK: every response
// below passes the SDK's strict response validation, or the call throws.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const readOnlyKey = process.env.KEYLINE_READONLY_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

test("identities: create → get → list → update → key shows identity limits → delete → create → delete", async () => {
  const created = await unkey.identities.createIdentity({
    externalId: "sdk_org",
    meta: { plan: "pro" },
    ratelimits: [{ name: "requests", limit: 2, duration: 60000, autoApply: true }],
  });
  const identityId = created.data.identityId;
  assert.match(identityId, /^id_/);

  await assert.rejects(unkey.identities.createIdentity({ externalId: "sdk_org" }), (err) => {
    assert.ok(err instanceof errors.ConflictErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/identity_already_exists");
    return true;
  });

  for (const identity of [identityId, "sdk_org"]) {
    const got = await unkey.identities.getIdentity({ identity });
    assert.equal(got.data.id, identityId);
    assert.equal(got.data.externalId, "sdk_org");
    assert.deepEqual(got.data.meta, { plan: "pro" });
    assert.equal(got.data.ratelimits[0].name, "requests");
  }

  await unkey.identities.createIdentity({ externalId: "sdk_other" });
  const first = await unkey.identities.listIdentities({ limit: 1 });
  assert.equal(first.result.data.length, 1);
  assert.equal(first.result.pagination.hasMore, true);
  const found = await unkey.identities.listIdentities({ search: "SDK_ORG" });
  assert.deepEqual(found.result.data.map((i) => i.id), [identityId]);

  const updated = await unkey.identities.updateIdentity({
    identity: "sdk_org",
    meta: { plan: "team" },
    ratelimits: [
      { name: "requests", limit: 2, duration: 60000, autoApply: true },
      { name: "tokens", limit: 100, duration: 60000, autoApply: false },
    ],
  });
  assert.deepEqual(updated.data.meta, { plan: "team" });
  assert.deepEqual(updated.data.ratelimits.map((r) => r.name), ["requests", "tokens"]);

  // The identity's limits show on its keys and apply to verifications.
  const { data: api } = await unkey.apis.createApi({ name: "sdk identities" });
  const { data: k } = await unkey.keys.createKey({ apiId: api.apiId, externalId: "sdk_org" });
  const key = await unkey.keys.getKey({ keyId: k.keyId });
  assert.equal(key.data.identity.id, identityId);
  assert.deepEqual(key.data.identity.ratelimits.map((r) => r.name), ["requests", "tokens"]);
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await unkey.keys.verifyKey({ key: k.key })).data.code);
  assert.deepEqual(codes, ["VALID", "VALID", "RATE_LIMITED"]);

  const deleted = await unkey.identities.deleteIdentity({ identity: identityId });
  assert.deepEqual(Object.keys(deleted), ["meta"]);
  // Unkey's spec types deleteIdentity's errors as application/problem+json
  // while the SDK asks for application/json, which is what Unkey (and
  // keyline) then send: the SDK can only surface a generic APIError here.
  await assert.rejects(unkey.identities.deleteIdentity({ identity: identityId }), (err) => {
    assert.ok(err instanceof errors.APIError, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.statusCode, 404);
    assert.equal(JSON.parse(err.body).error.type, "https://unkey.com/docs/errors/unkey/data/identity_not_found");
    return true;
  });
  await assert.rejects(unkey.identities.getIdentity({ identity: identityId }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/identity_not_found");
    return true;
  });
  const again = await unkey.identities.createIdentity({ externalId: "sdk_org" });
  assert.notEqual(again.data.identityId, identityId);
  await unkey.identities.deleteIdentity({ identity: "sdk_org" });
});

test("identities: a missing permission is ForbiddenErrorResponse naming it", async () => {
  const reader = new Unkey({ serverURL, rootKey: readOnlyKey, retryConfig: { strategy: "none" } });
  await assert.rejects(reader.identities.createIdentity({ externalId: "nope" }), (err) => {
    assert.ok(err instanceof errors.ForbiddenErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.match(err.data$.error.detail, /^Missing one of these permissions: identity\.\*\.create_identity or unkey:v1:ws_\w+:projects\/\*\/identities\/\*#create_identity$/);
    return true;
  });
});
