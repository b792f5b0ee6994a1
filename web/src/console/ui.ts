// ui.ts: small pieces the console's views share.
import { ApiError } from "../lib/api";
import { h } from "../lib/dom";

/** errorBox shows an API failure as the server phrased it, with its request ID. */
export function errorBox(e: unknown): HTMLElement {
  if (e instanceof ApiError) {
    return h("div", { class: "error", role: "alert" },
      h("strong", {}, e.problem.title || `HTTP ${e.status}`), " ", e.problem.detail || "",
      e.requestId ? h("div", { class: "muted mono" }, `request ${e.requestId}`) : null);
  }
  return h("div", { class: "error", role: "alert" }, String(e));
}

/** status is a line that can show progress, success or an error. */
export function status(): { el: HTMLElement; show: (node: Node | string | null) => void } {
  const el = h("div", { class: "status", "aria-live": "polite" });
  return { el, show: (node) => { el.replaceChildren(); if (node) el.append(node); } };
}

/** run calls f, shows its failure in st and reports success. */
export async function attempt(st: { show: (n: Node | string | null) => void }, f: () => Promise<void>): Promise<boolean> {
  st.show(null);
  try {
    await f();
    return true;
  } catch (e) {
    st.show(errorBox(e));
    return false;
  }
}

export function badge(on: boolean, yes = "enabled", no = "disabled"): HTMLElement {
  return h("span", { class: on ? "badge on" : "badge off" }, on ? yes : no);
}
