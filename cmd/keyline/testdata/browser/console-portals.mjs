// console-portals.mjs: the console's Portals section (cmd/keyline
// TestConsolePortalsOperation): the portal `keyline portals create` made is
// listed with the APIs it shows, one is created through the form, the
// first is deleted through the page; then the Audit log section of this
// server without ClickHouse says it needs ClickHouse instead of failing.
// Prints one JSON line of results for the Go test.
import assert from "node:assert/strict";
import { run } from "./lib.mjs";

const rootKey = process.env.KEYLINE_ROOT_KEY;
const portalName = process.env.KEYLINE_PORTAL_NAME;
const apiName = process.env.KEYLINE_API_NAME;
assert.ok(rootKey && portalName && apiName, "KEYLINE_ROOT_KEY, KEYLINE_PORTAL_NAME, KEYLINE_API_NAME");

const result = {};
const texts = async (loc) => (await loc.allInnerTexts()).map((s) => s.trim());
await run(async ({ page, allow, shot }) => {
  page.on("dialog", (d) => d.accept());
  await page.goto("/console");
  await page.getByLabel("Root key").fill(rootKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("table#apis").waitFor();

  // The CLI's portal, with the API it shows by name.
  await page.getByRole("link", { name: "Portals" }).click();
  const listed = page.locator("table#portals tbody tr", { hasText: portalName });
  await listed.waitFor();
  result.listed = await texts(page.locator("table#portals tbody tr td:first-child"));
  result.apisShown = (await listed.locator("td").nth(2).innerText()).trim();
  result.listedId = await listed.getAttribute("data-portal-id");

  // One more through the form.
  await page.getByLabel("Portal name").fill("Browser portal");
  await page.getByLabel("Return URL").fill("https://example.com/account");
  await page.getByLabel(`Show ${apiName}`).check();
  await page.getByRole("button", { name: "Create portal" }).click();
  const created = page.locator("table#portals tbody tr", { hasText: "Browser portal" });
  await created.waitFor();
  result.createdId = await created.getAttribute("data-portal-id");
  result.createdReturnUrl = (await created.locator("td").nth(3).innerText()).trim();
  await shot("console-portals");

  // Delete the CLI's portal: its row goes.
  await listed.getByRole("button", { name: "Delete" }).click();
  await listed.waitFor({ state: "detached" });
  result.afterDelete = await texts(page.locator("table#portals tbody tr td:first-child"));

  // No ClickHouse here: the audit log says what it needs.
  allow(/status of 412/);
  await page.getByRole("link", { name: "Audit log" }).click();
  result.auditUnavailable = (await page.locator("#audit-unavailable").innerText()).trim();
});
console.log("RESULT " + JSON.stringify(result));
console.log("console portals: ok");
