// chart.ts: an API's verifications per outcome over time, from
// analytics.getVerifications (the rollup tables), zero-filled here: a
// bucket without rows is a bucket with no verifications.
import { stackedBars, Series } from "../lib/chart";
import { ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import { session } from "./session";
import { errorBox } from "./ui";

export type Range = "24h" | "30d";

const HOUR = 3600_000, DAY = 24 * HOUR;

interface Row { time: string; outcome: string; total: number }

/** buckets lists the bucket starts (Unix ms, UTC) of a range ending now. */
export function buckets(range: Range, now = Date.now()): number[] {
  const out: number[] = [];
  if (range === "24h") {
    const last = Math.floor(now / HOUR) * HOUR;
    for (let i = 23; i >= 0; i--) out.push(last - i * HOUR);
  } else {
    const last = Math.floor(now / DAY) * DAY;
    for (let i = 29; i >= 0; i--) out.push(last - i * DAY);
  }
  return out;
}

export function query(keySpaceId: string, range: Range): string {
  // keySpaceId comes from keyline.listApis; anything but an ID is refused
  // rather than quoted.
  if (!/^[A-Za-z0-9_]+$/.test(keySpaceId)) throw new Error(`unexpected key space ID ${keySpaceId}`);
  return range === "24h"
    ? `SELECT time, outcome, sum(count) AS total FROM key_verifications_per_hour_v1 WHERE key_space_id = '${keySpaceId}' AND time >= now() - INTERVAL 1 DAY GROUP BY time, outcome ORDER BY time`
    : `SELECT time, outcome, sum(count) AS total FROM key_verifications_per_day_v1 WHERE key_space_id = '${keySpaceId}' AND time >= today() - INTERVAL 29 DAY GROUP BY time, outcome ORDER BY time`;
}

/** series folds rows into one zero-filled series per outcome. */
export function series(rows: Row[], starts: number[]): Series[] {
  const index = new Map(starts.map((t, i) => [t, i]));
  const by = new Map<string, number[]>();
  for (const r of rows) {
    const i = index.get(Date.parse(r.time));
    if (i === undefined) continue;
    if (!by.has(r.outcome)) by.set(r.outcome, starts.map(() => 0));
    by.get(r.outcome)![i] += Number(r.total) || 0;
  }
  return [...by.entries()].sort(([a], [b]) => (a === "VALID" ? -1 : b === "VALID" ? 1 : a.localeCompare(b)))
    .map(([name, values]) => ({ name, values }));
}

const hourLabel = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayLabel = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** verificationsChart fills box with the chart of keySpaceId over range. */
export async function verificationsChart(box: HTMLElement, keySpaceId: string, range: Range): Promise<void> {
  replace(box, h("p", { class: "muted" }, "Loading verifications…"));
  try {
    const { data } = await session()!.client.call<Row[]>("analytics.getVerifications", { query: query(keySpaceId, range) });
    const starts = buckets(range);
    const label = (t: number) => (range === "24h" ? hourLabel : dayLabel).format(new Date(t));
    const chart = stackedBars(starts, series(data, starts), label);
    chart.id = "verifications-chart";
    replace(box, chart);
  } catch (e) {
    if (e instanceof ApiError && e.status === 412) {
      // No ClickHouse: say so plainly, with the server's own words.
      replace(box, h("div", { class: "notice", id: "analytics-unavailable" },
        h("strong", {}, "Verification analytics are not available on this server. "),
        e.problem.detail || "", " Verifications still work; only the chart needs ClickHouse."));
    } else if (e instanceof ApiError && e.status === 403) {
      replace(box, h("div", { class: "notice" }, "This root key may not read analytics (it needs api.*.read_analytics or api.<apiId>.read_analytics)."));
    } else {
      replace(box, errorBox(e));
    }
  }
}
