// portals.ts: the workspace's portals (keyline.listPortals), opening one
// (keyline.createPortal) and deleting one (keyline.deletePortal), each
// shown only when the root key holds the grant.
import { h, replace } from "../lib/dom";
import { when } from "../lib/format";
import { APISummary } from "./apis";
import { can, session } from "./session";
import { attempt, errorBox, status } from "./ui";

interface Portal {
  portalId: string;
  name: string;
  apiIds: string[];
  returnUrl?: string;
  createdAt: number;
}

export async function portalsView(main: HTMLElement): Promise<void> {
  const { client } = session()!;
  const list = h("div", {});
  // API names for the "APIs shown" column and the create form; an API the
  // key may not read shows as its ID.
  const apis = new Map<string, string>();
  try {
    const res = await client.call<APISummary[]>("keyline.listApis", { limit: 100 });
    for (const a of res.data) apis.set(a.id, a.name);
  } catch {
    // The column falls back to IDs; the listing below reports real failures.
  }

  const load = async () => {
    try {
      const res = await client.call<Portal[]>("keyline.listPortals", {});
      replace(list, res.data.length
        ? h("table", { id: "portals" },
          h("thead", {}, h("tr", {}, ["Name", "ID", "APIs shown", "Return URL", "Created", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, res.data.map(portalRow)))
        : h("p", { class: "muted" }, "No portals yet."));
    } catch (e) {
      replace(list, errorBox(e));
    }
  };

  function portalRow(p: Portal): HTMLElement {
    const st = status();
    const remove = can("portal", "delete_portal", p.portalId)
      ? h("button", {
        class: "danger", onclick: () => {
          if (!confirm(`Delete portal ${p.name}? Its end users' sessions end at once.`)) return;
          void attempt(st, async () => {
            await client.call("keyline.deletePortal", { portalId: p.portalId });
            await load();
          });
        },
      }, "Delete")
      : null;
    return h("tr", { "data-portal-id": p.portalId },
      h("td", {}, p.name),
      h("td", { class: "mono" }, p.portalId),
      h("td", {}, p.apiIds.map((id) => apis.get(id) || id).join(", ")),
      h("td", { class: "mono" }, p.returnUrl || ""),
      h("td", {}, when(p.createdAt)),
      h("td", {}, remove, st.el));
  }

  replace(main, h("h1", {}, "Portals"),
    h("p", { class: "muted" }, "A portal lets your end users see and reroll their own keys; your backend opens a session for one with portal.createSession."),
    can("portal", "create_portal") ? createPortalCard(apis, load) : null,
    list);
  await load();
}

function createPortalCard(apis: Map<string, string>, reload: () => Promise<void>): HTMLElement {
  const { client } = session()!;
  const name = h("input", { placeholder: "portal name", "aria-label": "Portal name", required: true, maxlength: 255 });
  const returnUrl = h("input", { type: "url", placeholder: "return URL (optional)", "aria-label": "Return URL", maxlength: 500 });
  const boxes = [...apis].map(([id, apiName]) => ({ id, box: h("input", { type: "checkbox", value: id, "aria-label": `Show ${apiName}` }), apiName }));
  const st = status();
  return h("div", { class: "card" },
    h("h2", {}, "Create a portal"),
    h("form", {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void attempt(st, async () => {
          const apiIds = boxes.filter((b) => b.box.checked).map((b) => b.id);
          if (!apiIds.length) throw new Error("Choose at least one API the portal shows.");
          const body: Record<string, unknown> = { name: name.value.trim(), apiIds };
          if (returnUrl.value.trim()) body.returnUrl = returnUrl.value.trim();
          await client.call("keyline.createPortal", body);
          name.value = returnUrl.value = "";
          for (const b of boxes) b.box.checked = false;
          await reload();
        });
      },
    },
      h("div", { class: "row" }, name, returnUrl),
      boxes.length
        ? h("div", { class: "row" }, boxes.map((b) => h("label", {}, b.box, " ", b.apiName)))
        : h("p", { class: "muted" }, "No API this root key may read: a portal shows at least one."),
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Create portal"), st.el)));
}
