// Usage of a tenant as charts: one stacked bar per day (or hour, or month), split by
// cluster or topic, for the chosen metric; inline SVG drawn from GET /v1/tenants/{t}/usage,
// with the same numbers in a table for screen readers and exact values.

import { get, all, seg } from "../api.js";
import { breadcrumbs, bytes, field, h, problemAlert, s, table, title } from "../ui.js";

const METRICS = [
  ["bytes_in", "Bytes in (produced)", bytes],
  ["bytes_out", "Bytes out (consumed)", bytes],
  ["records_in", "Records in", (n) => Number(n).toLocaleString("en")],
  ["records_out", "Records out", (n) => Number(n).toLocaleString("en")],
  ["storage_gb_hours", "Storage (GB-hours)", (n) => Number(n).toFixed(3)],
  ["partition_hours", "Partition-hours", (n) => Number(n).toFixed(1)],
  ["cluster_hours", "Cluster-hours", (n) => Number(n).toFixed(2)],
];
const COLORS = ["#0b5cad", "#e07b00", "#1e7b34", "#8e3bb5", "#b3261e", "#00838f", "#6d4c41", "#546e7a"];
const DAY_MS = 86400000;

/** The report's rows as {periods, series: [{name, values}]}: a pure function, for charts. */
export function pivot(items, metric, dimension, names, allPeriods = []) {
  const periods = [...new Set([...allPeriods, ...items.map((i) => i.period_start)])].sort();
  const keyOf = (i) => (dimension === "topic" ? `${names[i.cluster_id] || i.cluster_id} / ${i.topic}` : names[i.cluster_id] || i.cluster_id);
  const series = new Map();
  for (const i of items) {
    const k = keyOf(i);
    if (!series.has(k)) series.set(k, new Array(periods.length).fill(0));
    series.get(k)[periods.indexOf(i.period_start)] += Number(i[metric]) || 0;
  }
  let list = [...series.entries()].map(([name, values]) => ({ name, values, total: values.reduce((a, b) => a + b, 0) }));
  list.sort((a, b) => b.total - a.total);
  // More series than colours: the smallest are summed as "other".
  if (list.length > COLORS.length) {
    const rest = list.slice(COLORS.length - 1);
    const other = { name: "other", values: periods.map((_, p) => rest.reduce((a, r) => a + r.values[p], 0)) };
    other.total = other.values.reduce((a, b) => a + b, 0);
    list = [...list.slice(0, COLORS.length - 1), other];
  }
  return { periods, series: list };
}

function chart(data, label, format) {
  const width = 720;
  const height = 260;
  const pad = { left: 70, right: 10, top: 10, bottom: 40 };
  const totals = data.periods.map((_, p) => data.series.reduce((a, x) => a + x.values[p], 0));
  const max = Math.max(1, ...totals);
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const step = innerW / Math.max(1, data.periods.length);
  const barW = Math.max(2, Math.min(40, step * 0.7));
  const bars = [];
  data.periods.forEach((period, p) => {
    let y = pad.top + innerH;
    data.series.forEach((x, k) => {
      const v = x.values[p];
      if (!v) return;
      const hgt = (v / max) * innerH;
      y -= hgt;
      bars.push(
        s("rect", { x: (pad.left + p * step + (step - barW) / 2).toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: Math.max(0.5, hgt).toFixed(1), fill: COLORS[k % COLORS.length] },
          s("title", {}, `${period.slice(0, 10)} · ${x.name}: ${format(v)}`)),
      );
    });
  });
  const ticks = [0, 0.5, 1].map((f) => {
    const y = pad.top + innerH - f * innerH;
    return [
      s("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, stroke: "#d4dbe1" }),
      s("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end" }, format(max * f)),
    ];
  });
  const every = Math.ceil(data.periods.length / 8);
  const xLabels = data.periods.map((period, p) =>
    p % every === 0 ? s("text", { x: pad.left + p * step + step / 2, y: height - pad.bottom + 16, "text-anchor": "middle" }, period.slice(5, 10)) : null,
  );
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, preserveAspectRatio: "xMidYMid meet" },
    s("title", {}, label),
    ticks,
    bars,
    xLabels,
  );
}

/** Every period start of [from, to) for day and month reports (RFC 3339 like the API's), so
 * days without usage show as gaps; none for hours (the data's own are enough). */
export function periodsBetween(from, to, granularity) {
  const out = [];
  const start = new Date(from);
  const end = new Date(to);
  if (granularity === "day") {
    const d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
    for (; d < end && out.length < 400; d.setUTCDate(d.getUTCDate() + 1)) out.push(d.toISOString());
  } else if (granularity === "month") {
    const d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1));
    for (; d < end && out.length < 24; d.setUTCMonth(d.getUTCMonth() + 1)) out.push(d.toISOString());
  }
  return out;
}

function defaultFrom() {
  return new Date(Date.now() - 30 * DAY_MS).toISOString().slice(0, 10);
}

export async function render(main, { tenant }) {
  const metric = h("select", { name: "metric" }, METRICS.map(([v, l]) => h("option", { value: v }, l)));
  const dimension = h("select", { name: "dimension" }, h("option", { value: "cluster" }, "Cluster"), h("option", { value: "topic" }, "Topic"));
  const granularity = h("select", { name: "granularity" }, h("option", { value: "day", selected: true }, "Day"), h("option", { value: "hour" }, "Hour"), h("option", { value: "month" }, "Month"));
  const from = h("input", { name: "from", type: "date", value: defaultFrom() });
  const form = h(
    "form",
    { class: "card inline", "aria-label": "Report options" },
    field("Metric", metric),
    field("Split by", dimension),
    field("Per", granularity),
    field("From", from),
    h("button", { type: "submit" }, "Update"),
  );
  const out = h("div", { id: "usage-report" }, h("p", { class: "muted" }, "Loading usage…"));
  let names = {};

  async function load() {
    const fromDate = from.value ? new Date(`${from.value}T00:00:00Z`) : new Date(Date.now() - 30 * DAY_MS);
    const q = new URLSearchParams({ from: fromDate.toISOString().replace(/\.\d{3}Z$/, "Z"), granularity: granularity.value, group_by: dimension.value });
    out.replaceChildren(h("p", { class: "muted" }, "Loading usage…"));
    try {
      const report = await get(`/v1/tenants/${seg(tenant)}/usage?${q}`);
      const [key, label, format] = METRICS.find(([k]) => k === metric.value);
      const caption = `${label} per ${granularity.value}, split by ${dimension.value}, from ${report.from.slice(0, 10)} to ${report.to.slice(0, 10)}`;
      // Cluster-hours accrue from a cluster's start: "no usage" means none of this metric.
      if (report.items.every((i) => !Number(i[key]))) {
        out.replaceChildren(h("p", { class: "empty" }, `No usage recorded from ${report.from.slice(0, 10)} to ${report.to.slice(0, 10)}. Usage appears here a minute or two after clients produce or consume.`));
        return;
      }
      const data = pivot(report.items, key, dimension.value, names, periodsBetween(report.from, report.to, granularity.value));
      out.replaceChildren(
        h("h2", {}, caption),
        chart(data, caption, format),
        h("ul", { class: "legend", "aria-label": "Legend" }, data.series.map((x, k) => h("li", {}, h("span", { class: `swatch c${k}`, "aria-hidden": "true" }), `${x.name}: ${format(x.total)}`))),
        h("h2", {}, "Details"),
        table(caption, [
          ["Period", (i) => i.period_start],
          ["Cluster", (i) => names[i.cluster_id] || i.cluster_id],
          ...(dimension.value === "topic" ? [["Topic", (i) => i.topic || ""]] : []),
          ["Bytes in", (i) => bytes(i.bytes_in), { num: true }],
          ["Bytes out", (i) => bytes(i.bytes_out), { num: true }],
          ["Records in", (i) => String(i.records_in), { num: true }],
          ["Records out", (i) => String(i.records_out), { num: true }],
          ["Storage GB-h", (i) => Number(i.storage_gb_hours).toFixed(3), { num: true }],
          ["Partition-h", (i) => Number(i.partition_hours).toFixed(1), { num: true }],
          ["Cluster-h", (i) => Number(i.cluster_hours || 0).toFixed(2), { num: true }],
        ], report.items),
      );
    } catch (e) {
      out.replaceChildren(problemAlert(e, "Could not load usage"));
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  main.append(breadcrumbs([["Usage"]]), title("Usage"), h("p", { class: "muted" }, "What your clusters metered: bytes and records in and out, storage and partitions."), form, out);
  try {
    for (const c of await all(`/v1/tenants/${seg(tenant)}/clusters`)) names[c.id] = c.name;
  } catch {
    names = {};
  }
  await load();
}
