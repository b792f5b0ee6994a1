// app.ts: the console's shell: the sign-in form, the navigation and a
// hash router (#/apis, #/apis/<id>, #/identities, #/ratelimits, #/portals,
// #/audit), so every view has a URL and the server needs only /console.
import { h, replace } from "../lib/dom";
import { canAny, session, signIn, signOut } from "./session";
import { errorBox } from "./ui";
import { apisView } from "./apis";
import { apiView } from "./api";
import { identitiesView } from "./identities";
import { ratelimitsView } from "./ratelimits";
import { portalsView } from "./portals";
import { auditView } from "./audit";

let root: HTMLElement;

export function start(el: HTMLElement): void {
  root = el;
  window.addEventListener("hashchange", () => void render());
  void render();
}

function signInView(): HTMLElement {
  const input = h("input", {
    type: "password", id: "root-key", autocomplete: "off", spellcheck: "false",
    placeholder: "kl_root_…", "aria-label": "Root key", required: true,
  });
  const msg = h("div", {});
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  // No name on the input and no action on the form: even if this handler
  // never ran, the browser would have nothing to send anywhere.
  const form = h("form", {
    class: "card signin",
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      button.disabled = true;
      msg.replaceChildren();
      try {
        await signIn(input.value.trim());
        input.value = "";
        if (!location.hash || location.hash === "#/") location.hash = "#/apis";
        else await render();
      } catch (e) {
        msg.append(errorBox(e));
      } finally {
        button.disabled = false;
      }
    },
  },
    h("h1", {}, "keyline console"),
    h("p", { class: "muted" }, "Paste a root key. It stays in this tab's memory only and is sent with each request; reloading the page signs you out."),
    h("label", { for: "root-key" }, "Root key"),
    input, button, msg);
  return h("main", {}, form);
}

function shell(active: string, content: HTMLElement): HTMLElement {
  const s = session()!;
  const link = (href: string, label: string, show = true) =>
    show ? h("a", { href, class: active === href ? "active" : "" }, label) : null;
  return h("div", {},
    h("header", { class: "top" },
      h("span", { class: "brand" }, "keyline"),
      h("nav", {},
        link("#/apis", "APIs"),
        link("#/identities", "Identities", canAny("identity", "read_identity")),
        link("#/ratelimits", "Rate limits", canAny("ratelimit", "read_override")),
        link("#/portals", "Portals", canAny("portal", "read_portal")),
        link("#/audit", "Audit log", canAny("workspace", "read_audit_log"))),
      h("span", { class: "spacer" }),
      h("span", { class: "muted mono", title: "workspace" }, s.workspaceId),
      h("button", { onclick: () => { signOut(); location.hash = "#/"; void render(); } }, "Sign out")),
    content);
}

async function render(): Promise<void> {
  if (!session()) {
    replace(root, signInView());
    root.querySelector("input")?.focus();
    return;
  }
  const [, section, id] = (location.hash || "#/apis").split("/");
  const main = h("main", {});
  const sections = ["identities", "ratelimits", "portals", "audit"];
  const active = sections.includes(section) ? `#/${section}` : "#/apis";
  replace(root, shell(active, main));
  const ref = id ? decodeURIComponent(id) : "";
  if (section === "identities") await identitiesView(main);
  else if (section === "ratelimits") await ratelimitsView(main, ref);
  else if (section === "portals") await portalsView(main);
  else if (section === "audit") await auditView(main);
  else if (ref) await apiView(main, ref);
  else await apisView(main);
}
