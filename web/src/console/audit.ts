// audit.ts: the workspace's audit log (keyline.listAuditLogs), newest
// first, a page at a time. It lives in ClickHouse: without clickhouse.url
// the server answers 412 and the section says so in the server's words.
import { ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import { when } from "../lib/format";
import { session } from "./session";
import { errorBox } from "./ui";

interface Entry {
  position: number;
  time: number;
  actorId: string;
  event: string;
  streamId: string;
  requestId?: string;
  resources: { type: string; id: string }[];
}

export async function auditView(main: HTMLElement): Promise<void> {
  const { client } = session()!;
  const list = h("div", {});
  const cursors: string[] = [""]; // cursors[i] opens page i
  let pageNo = 0;
  const load = async () => {
    try {
      const res = await client.call<Entry[]>("keyline.listAuditLogs", { cursor: cursors[pageNo] || undefined, limit: 50 });
      if (res.pagination?.hasMore && res.pagination.cursor) cursors[pageNo + 1] = res.pagination.cursor;
      replace(list,
        res.data.length
          ? h("table", { id: "audit" },
            h("thead", {}, h("tr", {}, ["Time", "Actor", "Event", "Resources"].map((t) => h("th", {}, t)))),
            h("tbody", {}, res.data.map((e) => h("tr", { "data-position": e.position },
              h("td", {}, when(e.time)),
              h("td", { class: "mono" }, e.actorId || h("span", { class: "muted" }, "operator")),
              h("td", { class: "mono" }, e.event),
              h("td", { class: "mono" }, e.resources.length ? e.resources.map((r) => `${r.type} ${r.id}`).join(", ") : e.streamId)))))
          : h("p", { class: "muted" }, "The audit log is empty."),
        h("div", { class: "pager" },
          h("button", { disabled: pageNo === 0, onclick: () => { pageNo--; void load(); } }, "← Newer"),
          h("span", { class: "muted" }, `page ${pageNo + 1}`),
          h("button", { disabled: !cursors[pageNo + 1], onclick: () => { pageNo++; void load(); } }, "Older →")));
    } catch (e) {
      replace(list, e instanceof ApiError && e.status === 412
        ? h("p", { class: "muted", id: "audit-unavailable" }, "The audit log needs ClickHouse. ", e.problem.detail || "")
        : errorBox(e));
    }
  };
  replace(main, h("h1", {}, "Audit log"),
    h("div", { class: "row" }, h("span", { class: "grow muted" }, "Every change in this workspace, newest first."),
      h("button", { onclick: () => { cursors.length = 1; pageNo = 0; void load(); } }, "Refresh")),
    list);
  await load();
}
