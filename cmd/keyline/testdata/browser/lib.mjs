// lib.mjs: what every browser script shares. It launches Debian's Chromium
// headless through playwright-core with a fresh profile, records every page
// error, console error, failed request and server error, and fails the run
// when any was seen (unless a step declared it expected with allow()).
//
// Environment (set by cmd/keyline's runBrowser):
//   KEYLINE_URL           the test server
//   KEYLINE_PROFILE       a fresh, empty --user-data-dir for this run
//   KEYLINE_SCREENSHOTS   optional: a directory shot() writes PNGs into
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

export const baseURL = process.env.KEYLINE_URL;
assert.ok(baseURL, "KEYLINE_URL is not set");

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * run(fn) opens one page and calls fn({page, allow, shot}). allow(re)
 * accepts console errors matching re from then on (a step that expects,
 * say, a 401 says so); shot(name) saves a screenshot when asked to.
 */
export async function run(fn) {
  const profile = process.env.KEYLINE_PROFILE;
  assert.ok(profile, "KEYLINE_PROFILE is not set");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 860 },
    baseURL,
  });
  const problems = [];
  const allowed = [];
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = `${m.text()} (${m.location()?.url || "?"})`;
    if (!allowed.some((re) => re.test(text))) problems.push(`console error: ${text}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    const url = new URL(r.url());
    // The API's 4xx are answers the page handles (and the console shows
    // them as console errors, which the listener above judges); an asset
    // or a page that is missing, or any 5xx, is a bug.
    if (r.status() >= 500 || (r.status() >= 400 && !url.pathname.startsWith("/v2/"))) {
      problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    }
  });
  const shot = async (name) => {
    const dir = process.env.KEYLINE_SCREENSHOTS;
    if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
  };
  try {
    await fn({ page, context, allow: (re) => allowed.push(re), shot });
  } catch (e) {
    // What the page reported usually explains a failed step.
    if (problems.length) e.message += `\nthe page also reported:\n${problems.join("\n")}`;
    throw e;
  } finally {
    await context.close();
  }
  assert.deepEqual(problems, [], "the page reported problems");
}
