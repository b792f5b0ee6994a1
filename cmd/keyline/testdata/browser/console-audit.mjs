// console-audit.mjs: the console's Audit log section (cmd/keyline
// TestConsoleAuditLogOperation): the key the test created appears, newest
// first, once the audit projector has written it to ClickHouse; the page
// is refreshed until then, within a deadline. Prints one JSON line of
// results for the Go test.
import assert from "node:assert/strict";
import { run } from "./lib.mjs";

const rootKey = process.env.KEYLINE_ROOT_KEY;
const keyId = process.env.KEYLINE_KEY_ID;
assert.ok(rootKey && keyId, "KEYLINE_ROOT_KEY, KEYLINE_KEY_ID");

const result = {};
const texts = async (loc) => (await loc.allInnerTexts()).map((s) => s.trim());
await run(async ({ page, shot }) => {
  await page.goto("/console");
  await page.getByLabel("Root key").fill(rootKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("table#apis").waitFor();
  await page.getByRole("link", { name: "Audit log" }).click();

  const row = page.locator("table#audit tbody tr", { hasText: `key ${keyId}` });
  const deadline = Date.now() + 60_000;
  for (;;) {
    // Wait for the page to render the current answer before looking.
    await page.locator("table#audit, main p.muted:has-text('The audit log is empty.')").first().waitFor();
    if (await row.count()) break;
    assert.ok(Date.now() < deadline, `no audit entry names key ${keyId} after 60 s`);
    await page.waitForTimeout(500);
    await page.getByRole("button", { name: "Refresh" }).click();
  }
  const cells = await texts(row.first().locator("td"));
  result.actor = cells[1];
  result.event = cells[2];
  result.resources = cells[3];
  result.events = await texts(page.locator("table#audit tbody tr td:nth-child(3)"));
  result.positions = await page.locator("table#audit tbody tr").evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-position"))));
  await shot("console-audit");
});
console.log("RESULT " + JSON.stringify(result));
console.log("console audit: ok");
