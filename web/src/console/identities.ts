// identities.ts: the workspace's identities (identities.listIdentities),
// searchable on the server, a page at a time.
import { h, replace } from "../lib/dom";
import { session } from "./session";
import { errorBox } from "./ui";

interface Identity {
  id: string;
  externalId: string;
  meta?: Record<string, unknown>;
  ratelimits?: { name: string; limit: number; duration: number }[];
}

export async function identitiesView(main: HTMLElement): Promise<void> {
  const { client } = session()!;
  const list = h("div", {});
  const search = h("input", { type: "search", placeholder: "Search by external ID", "aria-label": "Search identities", class: "grow" });
  const cursors: string[] = [""];
  let pageNo = 0;
  const load = async () => {
    try {
      const res = await client.call<Identity[]>("identities.listIdentities", { limit: 25, cursor: cursors[pageNo] || undefined, search: search.value.trim() || undefined });
      if (res.pagination?.hasMore && res.pagination.cursor) cursors[pageNo + 1] = res.pagination.cursor;
      replace(list,
        res.data.length
          ? h("table", { id: "identities" },
            h("thead", {}, h("tr", {}, h("th", {}, "External ID"), h("th", {}, "ID"), h("th", {}, "Rate limits"), h("th", {}, "Meta"))),
            h("tbody", {}, res.data.map((i) => h("tr", {},
              h("td", {}, i.externalId), h("td", { class: "mono" }, i.id),
              h("td", {}, (i.ratelimits || []).map((r) => `${r.name}: ${r.limit}/${r.duration / 1000}s`).join(", ")),
              h("td", { class: "mono" }, i.meta && Object.keys(i.meta).length ? JSON.stringify(i.meta) : "")))))
          : h("p", { class: "muted" }, "No identities."),
        h("div", { class: "pager" },
          h("button", { disabled: pageNo === 0, onclick: () => { pageNo--; void load(); } }, "← Previous"),
          h("span", { class: "muted" }, `page ${pageNo + 1}`),
          h("button", { disabled: !cursors[pageNo + 1], onclick: () => { pageNo++; void load(); } }, "Next →")));
    } catch (e) {
      replace(list, errorBox(e));
    }
  };
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => { cursors.length = 1; pageNo = 0; void load(); }, 250);
  });
  replace(main, h("h1", {}, "Identities"), h("div", { class: "card" }, h("div", { class: "row" }, search), list));
  await load();
}
