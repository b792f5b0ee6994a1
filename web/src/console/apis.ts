// apis.ts: the APIs of the workspace the root key may read
// (keyline.listApis), and creating one.
import { h, replace } from "../lib/dom";
import { when } from "../lib/format";
import { can, session } from "./session";
import { attempt, paged, status } from "./ui";

export interface APISummary {
  id: string;
  name: string;
  keySpaceId: string;
  createdAt: number;
}

export async function apisView(main: HTMLElement): Promise<void> {
  const { client } = session()!;
  const list = h("div", {});
  const load = paged(list,
    (cursor) => client.call<APISummary[]>("keyline.listApis", { cursor, limit: 25 }),
    (apis) => apis.length
      ? h("table", { id: "apis" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "ID"), h("th", {}, "Created"))),
        h("tbody", {}, apis.map((a) =>
          h("tr", {},
            h("td", {}, h("a", { href: `#/apis/${encodeURIComponent(a.id)}` }, a.name)),
            h("td", { class: "mono" }, a.id),
            h("td", {}, when(a.createdAt))))))
      : h("p", { class: "muted" }, "No APIs this root key may read."));

  let create: HTMLElement | null = null;
  if (can("api", "create_api")) {
    const name = h("input", { placeholder: "name, e.g. payments", "aria-label": "New API name", required: true, maxlength: 255 });
    const st = status();
    create = h("form", {
      class: "row", onsubmit: async (ev: Event) => {
        ev.preventDefault();
        await attempt(st, async () => {
          const { data } = await client.call<{ apiId: string }>("apis.createApi", { name: name.value.trim() });
          location.hash = `#/apis/${encodeURIComponent(data.apiId)}`;
        });
      },
    }, name, h("button", { type: "submit", class: "primary" }, "Create API"), st.el);
  }
  replace(main, h("h1", {}, "APIs"), create ? h("div", { class: "card" }, create) : null, list);
  await load();
}
