// app.ts: the customer portal page. It redeems the one-time code from its
// URL (portal.exchangeCode sets the HttpOnly portal_session cookie, which
// this script never sees or stores), drops the code from the address bar,
// and shows the end user's own keys and usage. The session's scopes decide
// what appears: a part the session may not see answers 403 and is left out.
import { ApiError, Client } from "../lib/api";
import { h, replace } from "../lib/dom";
import { stackedBars } from "../lib/chart";
import { num, when } from "../lib/format";

interface Key {
  keyId: string;
  start: string;
  name?: string;
  enabled: boolean;
  createdAt: number;
  credits?: { remaining: number | null };
}

interface Point {
  time: number;
  total: number;
  valid: number;
  rateLimited: number;
  insufficientPermissions: number;
  forbidden: number;
  disabled: number;
  expired: number;
  usageExceeded: number;
}

const api = new Client();

export async function start(root: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (code) {
    try {
      await api.call("portal.exchangeCode", { code });
    } catch (e) {
      replace(root, h("h1", {}, "API keys"), h("p", { class: "error", id: "portal-error" },
        "This portal link is invalid, expired or was already used. Ask for a new one."));
      return;
    }
    history.replaceState(null, "", location.pathname);
  }
  const keys = h("section", { id: "portal-keys" });
  const usage = h("section", { id: "portal-usage" });
  replace(root, h("h1", {}, "Your API keys"), keys, usage);
  const shown = await Promise.all([renderKeys(keys), renderUsage(usage)]);
  if (!shown.some(Boolean)) {
    replace(root, h("h1", {}, "API keys"), h("p", { class: "error", id: "portal-error" },
      "Your session has ended. Open the portal again from the application."));
  }
}

/** forbidden: the session lacks the scope, so the part is not shown. */
function forbidden(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 403 || e.status === 401 || e.status === 400);
}

async function renderKeys(el: HTMLElement): Promise<boolean> {
  let list: Key[];
  try {
    list = (await api.call<Key[]>("portal.listKeys", { limit: 100 })).data;
  } catch (e) {
    if (forbidden(e)) { el.remove(); return false; }
    replace(el, h("p", { class: "error" }, String(e)));
    return true;
  }
  const revealed = h("div", { id: "portal-new-key" });
  const rows = list.map((k) =>
    h("tr", { "data-key-id": k.keyId },
      h("td", {}, k.name || "(unnamed)"),
      h("td", {}, h("code", {}, k.start + "…")),
      h("td", {}, when(k.createdAt)),
      h("td", {}, "—"),
      h("td", {}, k.credits ? num(k.credits.remaining) : "unlimited"),
      h("td", {}, k.enabled ? "enabled" : "disabled"),
      h("td", {}, h("button", { class: "reroll", onclick: () => reroll(k, revealed, el) }, "Roll key")),
    ));
  replace(el, h("h2", {}, "Keys"), revealed,
    list.length === 0 ? h("p", {}, "You have no keys yet.") :
      h("table", {}, h("thead", {}, h("tr", {}, ...["Name", "Key", "Created", "Last used", "Credits", "State", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)));
  return true;
}

async function reroll(k: Key, revealed: HTMLElement, section: HTMLElement): Promise<void> {
  try {
    const out = (await api.call<{ keyId: string; key: string }>("portal.rerollKey", { keyId: k.keyId, expiration: 0 })).data;
    await renderKeys(section);
    const box = section.querySelector("#portal-new-key") as HTMLElement;
    replace(box, h("p", {}, "Your new key, shown only this once. The old one no longer works:"),
      h("code", { id: "portal-new-key-value" }, out.key));
  } catch (e) {
    replace(revealed, h("p", { class: "error" }, e instanceof ApiError && e.status === 403 ?
      "You may not roll keys in this portal." : String(e)));
  }
}

async function renderUsage(el: HTMLElement): Promise<boolean> {
  const end = Date.now(), start = end - 24 * 60 * 60 * 1000;
  let points: Point[];
  try {
    points = (await api.call<Point[]>("portal.getVerifications", { startTime: start, endTime: end })).data;
  } catch (e) {
    if (forbidden(e)) { el.remove(); return false; }
    replace(el, h("h2", {}, "Usage"), h("p", { class: "muted" },
      e instanceof ApiError && e.status === 412 ? "Usage is not recorded on this server." : String(e)));
    return true;
  }
  const outcomes: [string, keyof Point][] = [["VALID", "valid"], ["RATE_LIMITED", "rateLimited"], ["USAGE_EXCEEDED", "usageExceeded"],
    ["INSUFFICIENT_PERMISSIONS", "insufficientPermissions"], ["FORBIDDEN", "forbidden"], ["DISABLED", "disabled"], ["EXPIRED", "expired"]];
  const chart = stackedBars(points.map((p) => p.time),
    outcomes.map(([name, field]) => ({ name, values: points.map((p) => p[field]) })),
    (t) => new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }));
  replace(el, h("h2", {}, "Verifications, last 24 hours"), chart);
  return true;
}
