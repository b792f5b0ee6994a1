// chart.ts: a stacked bar chart over time, drawn as plain SVG (no chart
// library, no CDN). One bar per time bucket, one stacked segment per
// series (for verifications: per outcome); each bar carries a <title>, so
// hovering shows the exact counts.

import { h, s } from "./dom";

export interface Series {
  name: string;
  values: number[]; // one per bucket, same order as buckets
}

/** Colours per outcome; other series cycle through the palette. */
const known: Record<string, string> = {
  VALID: "#2f9e44",
  RATE_LIMITED: "#f08c00",
  USAGE_EXCEEDED: "#e8590c",
  INSUFFICIENT_PERMISSIONS: "#9c36b5",
  FORBIDDEN: "#c92a2a",
  DISABLED: "#868e96",
  EXPIRED: "#495057",
  NOT_FOUND: "#1c7ed6",
};
const palette = ["#1971c2", "#0ca678", "#f59f00", "#d6336c", "#7048e8", "#5c940d"];

export function colour(name: string, i: number): string {
  return known[name] || palette[i % palette.length];
}

const W = 720, H = 220, left = 44, right = 8, top = 10, bottom = 28;

/** niceMax rounds up to 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * stackedBars draws buckets (Unix ms) × series. label(t) prints a bucket's
 * time on the axis (every few buckets, so labels do not overlap).
 */
export function stackedBars(buckets: number[], series: Series[], label: (t: number) => string): HTMLElement {
  const totals = buckets.map((_, i) => series.reduce((sum, ser) => sum + (ser.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => top + plotH - (v / max) * plotH;

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "verifications over time" });
  // Grid and y axis labels: 0, half, max.
  for (const v of [0, max / 2, max]) {
    svg.appendChild(s("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }));
    svg.appendChild(s("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, fmt(v)));
  }
  const every = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((t, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const g = s("g", { class: "bar", "data-total": totals[i] });
    let base = 0;
    series.forEach((ser, j) => {
      const v = ser.values[i] || 0;
      if (v <= 0) return;
      g.appendChild(s("rect", { x, width: barW, y: y(base + v), height: y(base) - y(base + v), fill: colour(ser.name, j) }));
      base += v;
    });
    const detail = series.filter((ser) => ser.values[i]).map((ser) => `${ser.name}: ${ser.values[i]}`);
    g.appendChild(s("title", {}, `${label(t)}\n${detail.length ? detail.join("\n") : "no verifications"}`));
    svg.appendChild(g);
    if (i % every === 0) {
      svg.appendChild(s("text", { x: left + i * slot + slot / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, label(t)));
    }
  });
  const legend = h("ul", { class: "legend" },
    series.map((ser, j) => {
      const swatch = s("svg", { viewBox: "0 0 10 10", width: 10, height: 10 }, s("rect", { width: 10, height: 10, fill: colour(ser.name, j) }));
      const total = ser.values.reduce((a, b) => a + b, 0);
      return h("li", {}, swatch, ` ${ser.name} `, h("span", { class: "muted" }, String(total)));
    }));
  return h("figure", { class: "chart-box" }, svg, series.length ? legend : h("p", { class: "muted" }, "No verifications in this period."));
}

function fmt(v: number): string {
  return v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(+v.toFixed(1));
}
