// Topics of a cluster: the list and the form that creates one with its partitions and the
// most used configs. A topic's own page (messages.js) changes configs and browses records.

import { all, post, seg } from "../api.js";
import { breadcrumbs, busy, field, h, problemAlert, table, title } from "../ui.js";
import { clusterTabs, loadCluster } from "./cluster.js";

const RETENTION = [
  ["", "Cluster default"],
  ["3600000", "1 hour"],
  ["86400000", "1 day"],
  ["604800000", "7 days"],
  ["2592000000", "30 days"],
  ["-1", "Forever"],
];

export function configSummary(configs) {
  const entries = Object.entries(configs || {});
  return entries.length === 0 ? h("span", { class: "muted" }, "defaults") : entries.map(([k, v]) => h("div", {}, h("code", {}, `${k}=${v}`)));
}

export async function render(main, { tenant, cluster }) {
  const base = `/v1/tenants/${seg(tenant)}/clusters/${seg(cluster)}/topics`;
  const crumbs = h("div", {});
  const heading = title("Topics");
  const list = h("div", {}, h("p", { class: "muted" }, "Loading topics…"));
  const errors = h("div", {});
  const name = h("input", { name: "name", required: true, autocomplete: "off", maxlength: "249" });
  const partitions = h("input", { name: "partitions", type: "number", min: "1", max: "10000", value: "1", required: true, inputmode: "numeric" });
  const retention = h("select", { name: "retention" }, RETENTION.map(([v, l]) => h("option", { value: v }, l)));
  const cleanup = h(
    "select",
    { name: "cleanup" },
    h("option", { value: "" }, "Delete old records (default)"),
    h("option", { value: "compact" }, "Compact by key"),
  );
  const form = h(
    "form",
    { class: "card inline", "aria-labelledby": "create-topic" },
    field("Topic name", name, "a-z, A-Z, 0-9, '.', '_' and '-'", "grow"),
    field("Partitions", partitions),
    field("Retention", retention),
    field("Cleanup policy", cleanup),
    h("button", { type: "submit" }, "Create topic"),
  );

  async function load() {
    try {
      const topics = await all(base);
      list.replaceChildren(
        topics.length === 0
          ? h("p", { class: "empty" }, "No topics yet. Create one below.")
          : table("Topics", [
              ["Name", (t) => h("a", { href: `#/t/${seg(tenant)}/clusters/${seg(cluster)}/topics/${seg(t.name)}` }, t.name)],
              ["Partitions", (t) => String(t.partitions), { num: true }],
              ["Replication", (t) => String(t.replication_factor), { num: true }],
              ["Configs", (t) => configSummary(t.configs)],
            ], topics),
      );
    } catch (e) {
      list.replaceChildren(problemAlert(e, "Could not list topics"));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    const configs = {};
    if (retention.value) configs["retention.ms"] = retention.value;
    if (cleanup.value) configs["cleanup.policy"] = cleanup.value;
    try {
      const topic = await busy(form, () =>
        post(base, { name: name.value.trim(), partitions: Number(partitions.value), configs }),
      );
      errors.replaceChildren(h("div", { class: "alert success", role: "status" }, `Topic ${topic.name} created.`));
      name.value = "";
      await load();
      name.focus();
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Could not create the topic"));
      name.focus();
    }
  });

  main.append(
    crumbs,
    heading,
    clusterTabs(tenant, cluster, "Topics"),
    list,
    h("h2", { id: "create-topic" }, "Create a topic"),
    errors,
    form,
  );
  loadCluster(tenant, cluster)
    .then((c) => {
      crumbs.replaceChildren(breadcrumbs([["Clusters", `#/t/${seg(tenant)}/clusters`], [c.name, `#/t/${seg(tenant)}/clusters/${seg(cluster)}`], ["Topics"]]));
      heading.textContent = `Topics of ${c.name}`;
    })
    .catch(() => {});
  await load();
}
