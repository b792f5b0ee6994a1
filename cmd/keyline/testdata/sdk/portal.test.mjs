// Conformance of the customer portal (portal.*) with Unkey's official SDK:
// a root key mints a session, the end user's side redeems it and uses the
// session-cookie operations. The SDK validates every response strictly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.KEYLINE_URL;
const rootKey = process.env.KEYLINE_ROOT_KEY;
const portal = process.env.KEYLINE_PORTAL_ID;
const apiId = process.env.KEYLINE_PORTAL_API_ID;
const unkey = new Unkey({ serverURL, rootKey, retryConfig: { strategy: "none" } });

function rejectsWith(promise, cls, status, type) {
  return assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.data$.error.status, status);
    assert.equal(err.data$.error.type, "https://unkey.com/docs/errors/" + type);
    return true;
  });
}

test("portal.createSession → exchangeCode → listKeys → rerollKey → getVerifications", async () => {
  const mine = await unkey.keys.createKey({ apiId, externalId: "sdk_portal_user", name: "mine" });
  const theirs = await unkey.keys.createKey({ apiId, externalId: "sdk_portal_other", name: "theirs" });

  const session = await unkey.portal.createSession({
    portal, externalId: "sdk_portal_user", scopes: ["keys:read", "keys:reroll", "analytics:read"],
    returnUrl: "https://app.example.com/settings",
  });
  // createSession and exchangeCode answer with their response headers
  // (Cache-Control: no-store) beside the body, under result.
  assert.match(session.result.data.id, /^ps_/);
  assert.equal(session.headers["cache-control"]?.[0], "no-store");
  const url = new URL(session.result.data.url);
  assert.equal(url.pathname, "/portal");
  const code = url.searchParams.get("code");
  assert.match(code, /^pst_/);

  const exchanged = await unkey.portal.exchangeCode({ code });
  assert.match(exchanged.result.data.accessToken, /^pat_/);
  const day = 24 * 60 * 60 * 1000;
  assert.ok(Math.abs(exchanged.result.data.expiresAt - (Date.now() + day)) < 60_000, `expiresAt ${exchanged.result.data.expiresAt}`);
  await rejectsWith(unkey.portal.exchangeCode({ code }), errors.UnauthorizedErrorResponse, 401,
    "unkey/authentication/portal_session_not_found");

  const security = { portalSession: exchanged.result.data.accessToken };
  const page = await unkey.portal.listKeys(security, {});
  assert.deepEqual(page.result.data.map((k) => k.keyId), [mine.data.keyId]);
  assert.equal(page.result.data[0].name, "mine");
  assert.equal(page.result.pagination.hasMore, false);

  const rolled = await unkey.portal.rerollKey(security, { keyId: mine.data.keyId, expiration: 0 });
  assert.match(rolled.data.keyId, /^key_/);
  assert.notEqual(rolled.data.keyId, mine.data.keyId);
  const verified = await unkey.keys.verifyKey({ key: rolled.data.key });
  assert.equal(verified.data.valid, true);
  await rejectsWith(unkey.portal.rerollKey(security, { keyId: theirs.data.keyId, expiration: 0 }),
    errors.NotFoundErrorResponse, 404, "unkey/data/key_not_found");

  const hour = 60 * 60 * 1000;
  const end = Date.now();
  const series = await unkey.portal.getVerifications(security, { startTime: end - hour, endTime: end });
  assert.ok(series.data.length === 60 || series.data.length === 61, `${series.data.length} minute buckets`);
  for (const p of series.data) {
    assert.equal(p.time % 60000, 0);
    assert.equal(p.total, p.valid + p.rateLimited + p.insufficientPermissions + p.forbidden + p.disabled + p.expired + p.usageExceeded);
  }
});

test("portal session routes refuse a root key", async () => {
  await rejectsWith(unkey.portal.listKeys({ portalSession: "" }, {}), errors.BadRequestErrorResponse, 400,
    "unkey/authentication/portal_token_missing");
  await rejectsWith(unkey.portal.listKeys({ portalSession: rootKey }, {}), errors.UnauthorizedErrorResponse, 401,
    "unkey/authentication/portal_session_not_found");
});
