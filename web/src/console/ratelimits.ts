// ratelimits.ts: rate-limit namespaces (keyline.listRatelimitNamespaces)
// and one namespace's overrides (ratelimit.listOverrides, setOverride,
// deleteOverride).
import { h, replace } from "../lib/dom";
import { can, session } from "./session";
import { attempt, errorBox, status } from "./ui";

interface Namespace { id: string; name: string; createdAt: number }
interface Override { overrideId: string; identifier: string; limit: number; duration: number }

export async function ratelimitsView(main: HTMLElement, namespaceId: string): Promise<void> {
  if (namespaceId) return namespaceView(main, namespaceId);
  const { client } = session()!;
  try {
    const res = await client.call<Namespace[]>("keyline.listRatelimitNamespaces", { limit: 100 });
    replace(main, h("h1", {}, "Rate-limit namespaces"),
      res.data.length
        ? h("table", { id: "namespaces" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "ID"))),
          h("tbody", {}, res.data.map((n) => h("tr", {},
            h("td", {}, h("a", { href: `#/ratelimits/${encodeURIComponent(n.id)}` }, n.name)), h("td", { class: "mono" }, n.id)))))
        : h("p", { class: "muted" }, "No namespaces yet: ratelimit.limit creates one on first use."),
      res.pagination?.hasMore ? h("p", { class: "muted" }, "Showing the first 100 namespaces.") : null);
  } catch (e) {
    replace(main, h("h1", {}, "Rate-limit namespaces"), errorBox(e));
  }
}

async function namespaceView(main: HTMLElement, namespaceId: string): Promise<void> {
  const { client } = session()!;
  const list = h("div", {});
  const load = async () => {
    try {
      const res = await client.call<Override[]>("ratelimit.listOverrides", { namespace: namespaceId, limit: 100 });
      replace(list, res.data.length
        ? h("table", { id: "overrides" },
          h("thead", {}, h("tr", {}, h("th", {}, "Identifier"), h("th", { class: "num" }, "Limit"), h("th", { class: "num" }, "Window"), h("th", {}, ""))),
          h("tbody", {}, res.data.map((o) => {
            const st = status();
            return h("tr", {},
              h("td", { class: "mono" }, o.identifier), h("td", { class: "num" }, String(o.limit)),
              h("td", { class: "num" }, `${o.duration / 1000} s`),
              h("td", {}, can("ratelimit", "delete_override", namespaceId)
                ? h("button", { class: "danger", onclick: () => attempt(st, async () => { await client.call("ratelimit.deleteOverride", { namespace: namespaceId, identifier: o.identifier }); await load(); }) }, "Delete")
                : null, st.el));
          })))
        : h("p", { class: "muted" }, "No overrides: every identifier gets the limit its caller asks for."));
    } catch (e) {
      replace(list, errorBox(e));
    }
  };
  let form: HTMLElement | null = null;
  if (can("ratelimit", "set_override", namespaceId)) {
    const identifier = h("input", { placeholder: "identifier (wildcards: *)", "aria-label": "Identifier", required: true, maxlength: 255 });
    const limit = h("input", { type: "number", min: 0, step: 1, placeholder: "limit", "aria-label": "Limit", required: true });
    const duration = h("input", { type: "number", min: 1, step: 1, placeholder: "window (s)", "aria-label": "Window in seconds", required: true });
    const st = status();
    form = h("form", {
      class: "row", onsubmit: (ev: Event) => {
        ev.preventDefault();
        void attempt(st, async () => {
          await client.call("ratelimit.setOverride", { namespace: namespaceId, identifier: identifier.value.trim(), limit: Number(limit.value), duration: Number(duration.value) * 1000 });
          identifier.value = limit.value = duration.value = "";
          await load();
        });
      },
    }, identifier, limit, duration, h("button", { type: "submit", class: "primary" }, "Set override"), st.el);
  }
  replace(main, h("p", {}, h("a", { href: "#/ratelimits" }, "← all namespaces")), h("h1", {}, "Overrides"),
    h("p", { class: "muted mono" }, namespaceId), form ? h("div", { class: "card" }, form) : null, list);
  await load();
}
