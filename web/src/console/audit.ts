// audit.ts: the workspace's audit log (keyline.listAuditLogs), newest
// first, a page at a time. It lives in ClickHouse: without clickhouse.url
// the server answers 412 and the section says so in the server's words.
import { ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import { when } from "../lib/format";
import { session } from "./session";
import { errorBox, paged } from "./ui";

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
  const reload = paged(list,
    (cursor) => client.call<Entry[]>("keyline.listAuditLogs", { cursor, limit: 50 }),
    (entries) => entries.length
      ? h("table", { id: "audit" },
        h("thead", {}, h("tr", {}, ["Time", "Actor", "Event", "Resources"].map((t) => h("th", {}, t)))),
        h("tbody", {}, entries.map((e) => h("tr", { "data-position": e.position },
          h("td", {}, when(e.time)),
          h("td", { class: "mono" }, e.actorId || h("span", { class: "muted" }, "operator")),
          h("td", { class: "mono" }, e.event),
          h("td", { class: "mono" }, e.resources.length ? e.resources.map((r) => `${r.type} ${r.id}`).join(", ") : e.streamId)))))
      : h("p", { class: "muted" }, "The audit log is empty."),
    {
      labels: ["← Newer", "Older →"],
      failed: (e) => e instanceof ApiError && e.status === 412
        ? h("p", { class: "muted", id: "audit-unavailable" }, "The audit log needs ClickHouse. ", e.problem.detail || "")
        : errorBox(e),
    });
  replace(main, h("h1", {}, "Audit log"),
    h("div", { class: "row" }, h("span", { class: "grow muted" }, "Every change in this workspace, newest first."),
      h("button", { onclick: () => void reload() }, "Refresh")),
    list);
  await reload();
}
