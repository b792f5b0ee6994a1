// portal.mjs: the customer portal flow in Chromium, from the URL
// portal.createSession returned to a rolled key. It prints one JSON line
// {"keys":[...],"newKey":"..."} for the Go test to check.
//
// Environment: KEYLINE_PORTAL_URL (the session URL on the test server),
// KEYLINE_OTHER_KEY (another identity's key ID).
import assert from "node:assert/strict";
import { run } from "./lib.mjs";

const portalURL = process.env.KEYLINE_PORTAL_URL;
const otherKey = process.env.KEYLINE_OTHER_KEY;

await run(async ({ page, context, allow, shot }) => {
  // The session has no analytics:read: that part answers 403 and is left out.
  allow(/status of 403/);
  await page.goto(portalURL);
  await page.waitForSelector("#portal-keys tbody tr");
  assert.equal(new URL(page.url()).search, "", "the code stays in the address bar");
  const keys = await page.$$eval("#portal-keys tbody tr", (rows) => rows.map((r) => r.getAttribute("data-key-id")));
  assert.equal(await page.locator("#portal-usage").count(), 0);

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "portal_session");
  assert.ok(session && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
  assert.equal(await page.evaluate(() => document.cookie), "", "the session cookie is not readable by script");

  // The cookie works for portal.listKeys from the page, and another
  // identity's key is a 404 there.
  const listed = await page.evaluate(async () => {
    const r = await fetch("/v2/portal.listKeys", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    return (await r.json()).data.map((k) => k.keyId);
  });
  assert.deepEqual(listed, keys);
  allow(/status of 404/);
  const foreign = await page.evaluate(async (keyId) => {
    const r = await fetch("/v2/portal.rerollKey", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ keyId, expiration: 0 }) });
    await r.text();
    return r.status;
  }, otherKey);
  assert.equal(foreign, 404);
  await shot("portal");

  await page.click(`#portal-keys tr[data-key-id="${keys[0]}"] button.reroll`);
  const newKey = await page.textContent("#portal-new-key-value", { timeout: 20_000 });
  assert.match(newKey, /^sk_/);

  // The code cannot be redeemed twice.
  allow(/status of 401/);
  await page.goto(portalURL);
  await page.waitForSelector("#portal-error");
  console.log(JSON.stringify({ keys, newKey }));
});
