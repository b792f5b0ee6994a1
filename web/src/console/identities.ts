// identities.ts: the workspace's identities (identities.listIdentities),
// searchable on the server, a page at a time.
import { h, replace } from "../lib/dom";
import { session } from "./session";
import { paged } from "./ui";

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
  const load = paged(list,
    (cursor) => client.call<Identity[]>("identities.listIdentities", { limit: 25, cursor, search: search.value.trim() || undefined }),
    (identities) => identities.length
      ? h("table", { id: "identities" },
        h("thead", {}, h("tr", {}, h("th", {}, "External ID"), h("th", {}, "ID"), h("th", {}, "Rate limits"), h("th", {}, "Meta"))),
        h("tbody", {}, identities.map((i) => h("tr", {},
          h("td", {}, i.externalId), h("td", { class: "mono" }, i.id),
          h("td", {}, (i.ratelimits || []).map((r) => `${r.name}: ${r.limit}/${r.duration / 1000}s`).join(", ")),
          h("td", { class: "mono" }, i.meta && Object.keys(i.meta).length ? JSON.stringify(i.meta) : "")))))
      : h("p", { class: "muted" }, "No identities."));
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 250);
  });
  replace(main, h("h1", {}, "Identities"), h("div", { class: "card" }, h("div", { class: "row" }, search), list));
  await load();
}
