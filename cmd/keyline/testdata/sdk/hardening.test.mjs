// Conformance of the wire fixes of the hardening issue (#11) with Unkey's
// official SDK: the errors below are what the SDK surfaces for Unkey's own
// answers in the same situations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

// The conformance server has no encryption keyring: decrypt is Unkey's 412
// for a missing vault. The SDK declares no 412 for these operations, so it
// surfaces a generic APIError carrying the envelope.
test("hardening: decrypt without a keyring is 412 precondition_failed", async () => {
  const { data: api } = await unkey.apis.createApi({ name: "sdk no vault" });
  const { data: created } = await unkey.keys.createKey({ apiId: api.apiId });
  const precondition = (err) => {
    assert.ok(err instanceof errors.APIError, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.statusCode, 412);
    const body = JSON.parse(err.body);
    assert.equal(body.error.type, "https://unkey.com/docs/errors/unkey/application/precondition_failed");
    assert.equal(body.error.detail, "Vault hasn't been set up.");
    assert.equal(body.error.status, 412);
    assert.match(body.meta.requestId, /^req_/);
    return true;
  };
  await assert.rejects(unkey.keys.getKey({ keyId: created.keyId, decrypt: true }), precondition);
  await assert.rejects(unkey.apis.listKeys({ apiId: api.apiId, decrypt: true }), precondition);

  const plain = await unkey.keys.getKey({ keyId: created.keyId, decrypt: false });
  assert.equal(plain.data.keyId, created.keyId);
  assert.equal(plain.data.plaintext, undefined);
  const page = await unkey.apis.listKeys({ apiId: api.apiId });
  assert.equal(page.result.data.length, 1);
});

test("hardening: deleting a deleted key is 404 key_not_found", async () => {
  const { data: api } = await unkey.apis.createApi({ name: "sdk delete twice" });
  const { data: created } = await unkey.keys.createKey({ apiId: api.apiId });
  const first = await unkey.keys.deleteKey({ keyId: created.keyId });
  assert.deepEqual(first.data, {});
  for (const permanent of [false, true]) {
    await assert.rejects(unkey.keys.deleteKey({ keyId: created.keyId, permanent }), (err) => {
      assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/unkey/data/key_not_found");
      assert.equal(err.data$.error.detail, "We could not find the requested key.");
      assert.equal(err.data$.error.status, 404);
      return true;
    });
  }
});
