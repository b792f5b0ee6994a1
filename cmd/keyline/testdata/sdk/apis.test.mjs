// Conformance of the foundation endpoints (apis.*) with Unkey's official SDK.
// The SDK rejects any response whose shape is wrong ("Response validation
// failed"), so every call here checks keyline's wire format too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const readOnlyKey = process.env.KEYLINE_READONLY_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

test("apis.createApi → getApi → listKeys → deleteApi", async () => {
  const created = await unkey.apis.createApi({ name: "sdk conformance" });
  assert.match(created.meta.requestId, /^req_/);
  const apiId = created.data.apiId;
  assert.match(apiId, /^api_/);

  const got = await unkey.apis.getApi({ apiId });
  assert.deepEqual(got.data, { id: apiId, name: "sdk conformance" });

  const page = await unkey.apis.listKeys({ apiId, limit: 10 });
  assert.deepEqual(page.result.data, []);
  assert.equal(page.result.pagination.hasMore, false);

  const deleted = await unkey.apis.deleteApi({ apiId });
  assert.deepEqual(deleted.data, {});

  await assert.rejects(unkey.apis.getApi({ apiId }), (err) => {
    assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.status, 404);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/api_not_found");
    return true;
  });
});

test("schema violations are BadRequestErrorResponse with errors[]", async () => {
  // The SDK refuses to send a body its own schema rejects, so this one goes
  // through fetch: it pins the server's validation error format.
  const res = await fetch(`${serverURL}/v2/apis.createApi`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${rootKey}` },
    body: JSON.stringify({ name: "ab" }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.errors[0].location, "/properties/name/minLength");
  assert.equal(body.error.errors[0].message, "minLength: got 2, want 3");
});

test("an unknown root key is UnauthorizedErrorResponse", async () => {
  const stranger = new Unkey({ serverURL, rootKey: "kl_root_unknown", retryConfig: { strategy: "none" } });
  await assert.rejects(stranger.apis.createApi({ name: "nope nope" }), (err) => {
    assert.ok(err instanceof errors.UnauthorizedErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.status, 401);
    return true;
  });
});

test("a missing permission is ForbiddenErrorResponse naming it", async () => {
  const reader = new Unkey({ serverURL, rootKey: readOnlyKey, retryConfig: { strategy: "none" } });
  await assert.rejects(reader.apis.createApi({ name: "not allowed" }), (err) => {
    assert.ok(err instanceof errors.ForbiddenErrorResponse, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.detail, "Missing permission: 'api.*.create_api'");
    return true;
  });
});
