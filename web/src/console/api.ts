// api.ts: one API: its verifications chart and its keys (search, pages,
// create, enable/disable, credits, delete).
import { h, replace } from "../lib/dom";
import { num, when } from "../lib/format";
import { can, session } from "./session";
import { attempt, badge, errorBox, status } from "./ui";
import { APISummary } from "./apis";
import { Range, verificationsChart } from "./chart";

interface Key {
  keyId: string;
  start: string;
  name?: string;
  enabled: boolean;
  createdAt: number;
  lastUsedAt?: number;
  expires?: number;
  credits?: { remaining?: number | null };
  identity?: { externalId: string };
}

export async function apiView(main: HTMLElement, apiId: string): Promise<void> {
  const { client } = session()!;
  let api: APISummary | undefined;
  try {
    // The listing's cursor is inclusive: cursor = the ID, limit 1, reads it.
    const res = await client.call<APISummary[]>("keyline.listApis", { cursor: apiId, limit: 1 });
    api = res.data.find((a) => a.id === apiId);
  } catch (e) {
    replace(main, errorBox(e));
    return;
  }
  if (!api) {
    replace(main, h("h1", {}, "API not found"), h("p", { class: "muted" }, `${apiId} does not exist, was deleted, or this root key may not read it.`),
      h("a", { href: "#/apis" }, "← all APIs"));
    return;
  }
  const a = api;

  // Chart.
  const chartBox = h("div", {});
  let range: Range = "24h";
  const rangeSelect = h("select", {
    "aria-label": "Time range",
    onchange: () => { range = rangeSelect.value as Range; void verificationsChart(chartBox, a.keySpaceId, range); },
  }, h("option", { value: "24h" }, "Last 24 hours"), h("option", { value: "30d" }, "Last 30 days"));

  // Keys: pages of apis.listKeys; the search filters what is loaded.
  const keys: Key[] = [];
  let cursor: string | undefined;
  let hasMore = false;
  const keysBox = h("div", {});
  const search = h("input", { type: "search", placeholder: "Search by name, ID, start or external ID", "aria-label": "Search keys", class: "grow" });
  const listStatus = status();
  search.addEventListener("input", () => renderKeys());

  const loadMore = async () => {
    await attempt(listStatus, async () => {
      const res = await client.call<Key[]>("apis.listKeys", { apiId: a.id, limit: 50, cursor });
      keys.push(...res.data);
      hasMore = !!res.pagination?.hasMore;
      cursor = res.pagination?.cursor;
    });
    renderKeys();
  };
  const reload = async () => { keys.length = 0; cursor = undefined; await loadMore(); };

  const canUpdate = can("api", "update_key", a.id);
  const canDelete = can("api", "delete_key", a.id);

  function keyRow(k: Key): HTMLElement {
    const st = status();
    const actions: (HTMLElement | null)[] = [];
    if (canUpdate) {
      actions.push(h("button", {
        onclick: () => attempt(st, async () => {
          await client.call("keys.updateKey", { keyId: k.keyId, enabled: !k.enabled });
          k.enabled = !k.enabled;
          renderKeys();
        }),
      }, k.enabled ? "Disable" : "Enable"));
      const credits = h("input", { type: "number", min: 0, step: 1, placeholder: "credits", "aria-label": `Credits for ${k.name || k.keyId}` });
      actions.push(h("form", {
        class: "row", onsubmit: (ev: Event) => {
          ev.preventDefault();
          void attempt(st, async () => {
            const v = credits.value.trim();
            // Empty means unlimited (Unkey's set with null).
            const value = v === "" ? null : Number(v);
            if (value !== null && (!Number.isSafeInteger(value) || value < 0)) throw new Error("Credits must be a whole number of at least 0, or empty for unlimited.");
            const { data } = await client.call<{ remaining?: number | null }>("keys.updateCredits", { keyId: k.keyId, operation: "set", value });
            k.credits = { remaining: data?.remaining ?? value };
            renderKeys();
          });
        },
      }, credits, h("button", { type: "submit" }, "Set credits")));
    }
    if (canDelete) {
      actions.push(h("button", {
        class: "danger", onclick: () => {
          if (!confirm(`Delete key ${k.name || k.keyId}? Verifications of it fail from now on.`)) return;
          void attempt(st, async () => {
            await client.call("keys.deleteKey", { keyId: k.keyId });
            keys.splice(keys.indexOf(k), 1);
            renderKeys();
          });
        },
      }, "Delete"));
    }
    return h("tr", { "data-key-id": k.keyId },
      h("td", {}, k.name || h("span", { class: "muted" }, "(no name)")),
      h("td", { class: "mono" }, `${k.start}…`),
      h("td", { class: "mono" }, k.keyId),
      h("td", {}, k.identity?.externalId || ""),
      h("td", { class: "num" }, k.credits ? num(k.credits.remaining) : "unlimited"),
      h("td", {}, when(k.createdAt)),
      h("td", {}, badge(k.enabled)),
      h("td", {}, h("div", { class: "row" }, actions), st.el));
  }

  function renderKeys(): void {
    const q = search.value.trim().toLowerCase();
    const shown = keys.filter((k) => !q || [k.name, k.keyId, k.start, k.identity?.externalId].some((v) => v && v.toLowerCase().includes(q)));
    replace(keysBox,
      shown.length
        ? h("table", { id: "keys" },
          h("thead", {}, h("tr", {}, ["Name", "Start", "ID", "External ID", "Credits", "Created", "State", ""].map((t) => h("th", { class: t === "Credits" ? "num" : "" }, t)))),
          h("tbody", {}, shown.map(keyRow)))
        : h("p", { class: "muted" }, keys.length ? "No loaded key matches the search." : "This API has no keys yet."),
      h("div", { class: "pager" },
        h("span", { class: "muted" }, `${shown.length} of ${keys.length} loaded keys${hasMore ? " (more on the server)" : ""}`),
        hasMore ? h("button", { onclick: () => void loadMore() }, "Load more") : null),
      listStatus.el);
  }

  replace(main,
    h("p", {}, h("a", { href: "#/apis" }, "← all APIs")),
    h("h1", {}, a.name), h("p", { class: "muted mono" }, `${a.id} · ${a.keySpaceId}`),
    h("div", { class: "card" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "Verifications"), rangeSelect), chartBox),
    can("api", "create_key", a.id) ? createKeyCard(a, reload) : null,
    h("div", { class: "card" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "Keys"), search), keysBox));
  await Promise.all([verificationsChart(chartBox, a.keySpaceId, range), loadMore()]);
}

function createKeyCard(a: APISummary, reload: () => Promise<void>): HTMLElement {
  const { client } = session()!;
  const name = h("input", { placeholder: "name", "aria-label": "Key name", maxlength: 200 });
  const prefix = h("input", { placeholder: "prefix (optional)", "aria-label": "Key prefix", maxlength: 16 });
  const externalId = h("input", { placeholder: "external ID (optional)", "aria-label": "External ID", maxlength: 255 });
  const credits = h("input", { type: "number", min: 0, step: 1, placeholder: "credits (empty: unlimited)", "aria-label": "Initial credits" });
  const st = status();
  const shown = h("div", {});
  return h("div", { class: "card" },
    h("h2", {}, "Create a key"),
    h("form", {
      class: "row", onsubmit: (ev: Event) => {
        ev.preventDefault();
        void attempt(st, async () => {
          const body: Record<string, unknown> = { apiId: a.id };
          if (name.value.trim()) body.name = name.value.trim();
          if (prefix.value.trim()) body.prefix = prefix.value.trim();
          if (externalId.value.trim()) body.externalId = externalId.value.trim();
          if (credits.value.trim()) {
            const n = Number(credits.value);
            if (!Number.isSafeInteger(n) || n < 0) throw new Error("Credits must be a whole number of at least 0.");
            body.credits = { remaining: n };
          }
          const { data } = await client.call<{ keyId: string; key: string }>("keys.createKey", body);
          const copy = h("button", { type: "button" }, "Copy");
          copy.addEventListener("click", () => {
            navigator.clipboard.writeText(data.key).then(() => { copy.textContent = "Copied"; }, () => { copy.textContent = "Select and copy by hand"; });
          });
          // The key exists only in this answer: keyline stores its hash.
          replace(shown, h("div", { class: "secret", id: "new-key" },
            h("strong", {}, "Your new key. It is shown only this once: copy it now."),
            h("code", {}, data.key),
            h("div", { class: "row" }, copy, h("span", { class: "muted mono" }, data.keyId),
              h("button", { type: "button", onclick: () => replace(shown) }, "Done"))));
          name.value = prefix.value = externalId.value = credits.value = "";
          await reload();
        });
      },
    }, name, prefix, externalId, credits, h("button", { type: "submit", class: "primary" }, "Create key")),
    st.el, shown);
}
