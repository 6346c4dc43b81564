// One topic: its partitions and configs (set, reset, add partitions) and the message
// browser over GET …/topics/{topic}/messages: the most recent records of a partition, or
// those from an offset, a bounded page at a time.

import { get, patch, post, seg } from "../api.js";
import { announce, breadcrumbs, busy, field, h, problemAlert, table, title } from "../ui.js";
import { clusterTabs, loadCluster } from "./cluster.js";
import { configSummary } from "./topics.js";

function payloadCell(p) {
  if (!p) return h("span", { class: "muted" }, "null");
  const text = p.encoding === "base64" ? `base64:${p.data}` : p.data;
  const cut = p.truncated ? h("span", { class: "muted" }, ` … (${p.size} bytes in all)`) : null;
  return [text, cut];
}

export async function render(main, { tenant, cluster, topic }) {
  const base = `/v1/tenants/${seg(tenant)}/clusters/${seg(cluster)}/topics/${seg(topic)}`;
  const crumbs = h("div", {});
  const info = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const configErrors = h("div", {});
  let current = null;

  // --- configs
  const key = h("input", { name: "config-key", required: true, autocomplete: "off", placeholder: "retention.ms", list: "config-keys" });
  const value = h("input", { name: "config-value", autocomplete: "off", placeholder: "86400000" });
  const keys = h(
    "datalist",
    { id: "config-keys" },
    ["retention.ms", "retention.bytes", "cleanup.policy", "segment.bytes", "max.message.bytes", "min.insync.replicas", "compression.type"].map((k) => h("option", { value: k })),
  );
  const configForm = h(
    "form",
    { class: "card inline", "aria-labelledby": "configure" },
    field("Config", key, "A Kafka topic config key"),
    field("Value", value, "Leave empty to reset to the default", "grow"),
    h("button", { type: "submit" }, "Apply"),
    keys,
  );
  configForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    configErrors.replaceChildren();
    const k = key.value.trim();
    if (!k) {
      configErrors.replaceChildren(problemAlert({ title: "Missing config", detail: "Enter a config key, e.g. retention.ms." }));
      key.focus();
      return;
    }
    try {
      const changed = await busy(configForm, () => patch(base, { configs: { [k]: value.value.trim() === "" ? null : value.value.trim() } }));
      show(changed);
      configErrors.replaceChildren(h("div", { class: "alert success", role: "status" }, `${k} ${value.value.trim() === "" ? "reset" : "set"}.`));
    } catch (e) {
      configErrors.replaceChildren(problemAlert(e, "Could not change the config"));
    }
  });

  const grow = h("input", { name: "partitions", type: "number", min: "1", max: "10000", inputmode: "numeric" });
  const growForm = h("form", { class: "card inline", "aria-label": "Add partitions" }, field("New partition count", grow, "Partitions can be added, never removed"), h("button", { type: "submit" }, "Add partitions"));
  growForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    configErrors.replaceChildren();
    try {
      const grown = await busy(growForm, () => post(`${base}/partitions`, { partitions: Number(grow.value) }));
      show(grown);
      configErrors.replaceChildren(h("div", { class: "alert success", role: "status" }, `The topic now has ${grown.partitions} partitions.`));
    } catch (e) {
      configErrors.replaceChildren(problemAlert(e, "Could not add partitions"));
    }
  });

  // --- messages
  const partition = h("select", { name: "partition" }, h("option", { value: "0" }, "0"));
  const offset = h("input", { name: "offset", type: "number", min: "0", inputmode: "numeric", placeholder: "latest" });
  const limit = h("select", { name: "limit" }, [10, 20, 50, 100].map((n) => h("option", { value: String(n), selected: n === 20 }, String(n))));
  const browseForm = h(
    "form",
    { class: "card inline", "aria-labelledby": "messages" },
    field("Partition", partition),
    field("From offset", offset, "Empty: the most recent messages"),
    field("Messages", limit),
    h("button", { type: "submit" }, "Show messages"),
  );
  const results = h("div", { id: "message-results" });

  async function browse(from) {
    const q = new URLSearchParams({ partition: partition.value, limit: limit.value });
    if (from !== undefined && from !== "") q.set("offset", String(from));
    results.replaceChildren(h("p", { class: "muted" }, "Reading…"));
    try {
      const page = await get(`${base}/messages?${q}`);
      const nav = h("div", { class: "actions" });
      const n = Number(limit.value);
      const first = page.messages.length ? page.messages[0].offset : page.next_offset;
      if (first > page.log_start_offset) {
        nav.append(h("button", { type: "button", class: "secondary", onclick: () => { offset.value = String(Math.max(page.log_start_offset, first - n)); browse(offset.value); } }, "Older"));
      }
      if (page.next_offset < page.high_watermark) {
        nav.append(h("button", { type: "button", class: "secondary", onclick: () => { offset.value = String(page.next_offset); browse(offset.value); } }, "Newer"));
      }
      nav.append(h("button", { type: "button", class: "secondary", onclick: () => { offset.value = ""; browse(); } }, "Latest"));
      const summary = h(
        "p",
        { class: "muted" },
        `Partition ${page.partition}: offsets ${page.log_start_offset} to ${Math.max(page.log_start_offset, page.high_watermark - 1)} are stored; `,
        `showing ${page.messages.length}.`,
        page.truncated ? " The page stopped early: it reached the 1 MiB display limit." : "",
      );
      results.replaceChildren(
        summary,
        page.messages.length === 0
          ? h("p", { class: "empty" }, "No messages here yet. Produce some with a Kafka client (see Credentials for snippets).")
          : table(`Messages of ${topic}`, [
              ["Offset", (m) => String(m.offset), { num: true }],
              ["Timestamp", (m) => m.timestamp || "—"],
              ["Key", (m) => payloadCell(m.key), { cls: "wrap" }],
              ["Value", (m) => payloadCell(m.value), { cls: "wrap" }],
              ["Headers", (m) => (m.headers.length ? m.headers.map((x) => h("div", {}, h("code", {}, x.key), ": ", payloadCell(x.value))) : "—"), { cls: "wrap" }],
            ], page.messages),
        nav,
      );
      announce(`${page.messages.length} messages shown.`);
    } catch (e) {
      results.replaceChildren(problemAlert(e, "Could not read messages"));
    }
  }
  browseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    browse(offset.value);
  });

  function show(t) {
    current = t;
    info.replaceChildren(
      h(
        "dl",
        { class: "props card" },
        h("dt", {}, "Partitions"),
        h("dd", { id: "topic-partitions" }, String(t.partitions)),
        h("dt", {}, "Replication factor"),
        h("dd", {}, String(t.replication_factor)),
        h("dt", {}, "Topic id"),
        h("dd", {}, h("code", {}, t.topic_id)),
        h("dt", {}, "Configs"),
        h("dd", { id: "topic-configs" }, configSummary(t.configs)),
      ),
    );
    const chosen = partition.value;
    partition.replaceChildren(...Array.from({ length: t.partitions }, (_, i) => h("option", { value: String(i), selected: String(i) === chosen }, String(i))));
    grow.min = String(t.partitions + 1);
    grow.value = String(t.partitions + 1);
  }

  main.append(
    crumbs,
    title(`Topic ${topic}`),
    clusterTabs(tenant, cluster, "Topics"),
    info,
    h("h2", { id: "messages" }, "Messages"),
    browseForm,
    results,
    h("h2", { id: "configure" }, "Configure"),
    configErrors,
    configForm,
    growForm,
  );
  loadCluster(tenant, cluster)
    .then((c) =>
      crumbs.replaceChildren(
        breadcrumbs([
          ["Clusters", `#/t/${seg(tenant)}/clusters`],
          [c.name, `#/t/${seg(tenant)}/clusters/${seg(cluster)}`],
          ["Topics", `#/t/${seg(tenant)}/clusters/${seg(cluster)}/topics`],
          [topic],
        ]),
      ),
    )
    .catch(() => {});
  try {
    show(await get(base));
  } catch (e) {
    info.replaceChildren(problemAlert(e, "Could not load the topic"));
    return;
  }
  if (current) await browse();
}
