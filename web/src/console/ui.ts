// ui.ts: small pieces the console's views share.
import { ApiError, Page } from "../lib/api";
import { h, replace } from "../lib/dom";

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

/**
 * paged shows a cursor listing in box one page at a time: fetch loads the
 * page a cursor opens (undefined: the first), render shows its rows, and
 * the pager below moves back and forth (the cursors seen so far are kept,
 * so going back needs no reverse cursor). A failure is shown by failed,
 * errorBox by default. It returns reload, which starts at the first page.
 */
export function paged<T>(
  box: HTMLElement,
  fetch: (cursor: string | undefined) => Promise<Page<T>>,
  render: (data: T) => HTMLElement,
  opts: { labels?: [string, string]; failed?: (e: unknown) => HTMLElement } = {},
): () => Promise<void> {
  const [prev, next] = opts.labels || ["← Previous", "Next →"];
  const cursors: string[] = [""]; // cursors[i] opens page i
  let pageNo = 0;
  const load = async () => {
    try {
      const res = await fetch(cursors[pageNo] || undefined);
      if (res.pagination?.hasMore && res.pagination.cursor) cursors[pageNo + 1] = res.pagination.cursor;
      replace(box, render(res.data),
        h("div", { class: "pager" },
          h("button", { disabled: pageNo === 0, onclick: () => { pageNo--; void load(); } }, prev),
          h("span", { class: "muted" }, `page ${pageNo + 1}`),
          h("button", { disabled: !cursors[pageNo + 1], onclick: () => { pageNo++; void load(); } }, next)));
    } catch (e) {
      replace(box, (opts.failed || errorBox)(e));
    }
  };
  return async () => { cursors.length = 1; pageNo = 0; await load(); };
}
