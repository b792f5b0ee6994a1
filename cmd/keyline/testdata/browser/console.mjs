// console.mjs: the admin console flow (cmd/keyline TestBrowserConsole):
// sign in with a root key, see the APIs by name, open one, see its keys by
// name and its verifications chart, create a key (shown once, and it
// verifies), disable it, set its credits, delete it; then the rate-limit
// and identity pages. Prints one JSON line of results for the Go test.
import assert from "node:assert/strict";
import { baseURL, run } from "./lib.mjs";

const rootKey = process.env.KEYLINE_ROOT_KEY;
const apiName = process.env.KEYLINE_API_NAME;
const expectTotal = Number(process.env.KEYLINE_EXPECT_VERIFICATIONS);
assert.ok(rootKey && apiName && expectTotal > 0, "KEYLINE_ROOT_KEY, KEYLINE_API_NAME, KEYLINE_EXPECT_VERIFICATIONS");

async function verify(key) {
  const res = await fetch(`${baseURL}/v2/keys.verifyKey`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${rootKey}` },
    body: JSON.stringify({ key }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).data;
}

const result = {};
const texts = async (loc) => (await loc.allInnerTexts()).map((s) => s.trim());
await run(async ({ page, allow, shot }) => {
  page.on("dialog", (d) => d.accept());

  // A wrong key is refused, and the console says why.
  await page.goto("/console");
  await page.getByLabel("Root key").fill("kl_root_not_a_key");
  allow(/status of 401/);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  result.wrongKeyAlert = (await page.getByRole("alert").innerText()).trim();

  await shot("console-signin");
  await page.getByLabel("Root key").fill(rootKey);
  await page.getByRole("button", { name: "Sign in" }).click();

  // The APIs, by name.
  await page.locator("table#apis").waitFor();
  result.apis = await texts(page.locator("table#apis tbody tr td:first-child"));
  await shot("console-apis");

  // One API: its keys by name and the chart.
  await page.getByRole("link", { name: apiName, exact: true }).click();
  await page.locator("table#keys").waitFor();
  await page.locator("#verifications-chart svg.chart").waitFor();
  result.keyNames = await texts(page.locator("table#keys tbody tr td:first-child"));
  const totals = await page.locator("#verifications-chart g.bar").evaluateAll((gs) => gs.map((g) => Number(g.getAttribute("data-total"))));
  result.chartBuckets = totals.length;
  result.chartTotal = totals.reduce((a, b) => a + b, 0);
  result.legend = await texts(page.locator("#verifications-chart ul.legend li"));

  // Search narrows the list to matching names.
  await page.getByLabel("Search keys").fill(process.env.KEYLINE_SEARCH);
  result.searchNames = await texts(page.locator("table#keys tbody tr td:first-child"));
  await page.getByLabel("Search keys").fill("");

  // Create a key: shown once, and it verifies.
  await page.getByLabel("Key name").fill("browser-key");
  await page.getByLabel("Key prefix").fill("brw");
  await page.getByLabel("Initial credits").fill("5");
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.locator("#new-key code").innerText()).trim();
  assert.match(secret, /^brw_/);
  const row = page.locator("table#keys tbody tr", { hasText: "browser-key" });
  await row.waitFor();
  result.createdKeyId = await row.getAttribute("data-key-id");
  await shot("console-api");
  const first = await verify(secret);
  result.firstVerify = { code: first.code, remaining: first.credits };

  // Disable it: the badge changes and the key no longer verifies.
  await row.getByRole("button", { name: "Disable" }).click();
  await row.getByRole("button", { name: "Enable" }).waitFor();
  result.badgeAfterDisable = (await row.locator(".badge").innerText()).trim();
  result.disabledVerify = (await verify(secret)).code;

  // Set its credits.
  await row.getByLabel("Credits for browser-key").fill("42");
  await row.getByRole("button", { name: "Set credits" }).click();
  await row.locator("td.num", { hasText: "42" }).waitFor();
  result.creditsCell = (await row.locator("td.num").innerText()).trim();

  // Delete it.
  await row.getByRole("button", { name: "Delete" }).click();
  await row.waitFor({ state: "detached" });
  result.deletedVerify = (await verify(secret)).code;

  // Rate limits: the namespace and its override.
  await page.getByRole("link", { name: "Rate limits" }).click();
  await page.locator("table#namespaces").waitFor();
  result.namespaces = await texts(page.locator("table#namespaces tbody tr td:first-child"));
  await page.locator("table#namespaces a").first().click();
  await page.locator("table#overrides").waitFor();
  result.overrides = await texts(page.locator("table#overrides tbody tr td:first-child"));
  await shot("console-ratelimits");

  // Identities.
  await page.getByRole("link", { name: "Identities" }).click();
  await page.locator("table#identities").waitFor();
  result.identities = await texts(page.locator("table#identities tbody tr td:first-child"));

  // Signing out forgets the key: the sign-in form is back, and nothing
  // was stored in the browser.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Root key").waitFor();
  result.storage = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
});
console.log("RESULT " + JSON.stringify(result));
console.log("console flow: ok");
