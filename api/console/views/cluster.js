// One cluster: its state (polled while it changes, Provisioning → Ready), bootstrap address
// and CA certificate to copy or download, limits and recent events. Also exports the tab
// bar the cluster's other pages share.

import { get, seg } from "../api.js";
import { announce, badge, breadcrumbs, copyButton, h, problemAlert, table, title } from "../ui.js";

const TRANSIENT = new Set(["provisioning", "updating", "deleting"]);
const POLL_MS = 1000;

/** The tabs of a cluster's pages. */
export function clusterTabs(tenant, cluster, current) {
  const base = `#/t/${seg(tenant)}/clusters/${seg(cluster)}`;
  const tab = (name, href) =>
    h("li", {}, h("a", { href, "aria-current": name === current ? "page" : null }, name));
  return h(
    "nav",
    { "aria-label": "Cluster" },
    h("ul", { class: "tabs" }, tab("Overview", base), tab("Topics", `${base}/topics`), tab("Credentials", `${base}/credentials`)),
  );
}

/** The cluster, for pages that need its name or bootstrap address. */
export function loadCluster(tenant, cluster) {
  return get(`/v1/tenants/${seg(tenant)}/clusters/${seg(cluster)}`);
}

function downloadLink(label, filename, text) {
  // A blob URL of the text, made when the page is drawn (the console has no file route).
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
  return h("a", { href: url, download: filename }, label);
}

function details(c) {
  const stateLine = h("dd", { id: "cluster-state" }, badge(c.state), c.state_reason ? ` ${c.state_reason}` : "");
  const rows = [
    h("dt", {}, "State"),
    stateLine,
    h("dt", {}, "Cluster id"),
    h("dd", {}, h("code", {}, c.id)),
    h("dt", {}, "Brokers"),
    h("dd", {}, String(c.brokers)),
    h("dt", {}, "Limits"),
    h("dd", {}, `${c.limits.max_partitions} partitions, ${c.limits.ingress_mbps} MB/s in, ${c.limits.egress_mbps} MB/s out`),
    h("dt", {}, "Created"),
    h("dd", {}, c.created_at),
  ];
  return h("dl", { class: "props" }, rows);
}

function connection(c) {
  if (!c.bootstrap) {
    return h("p", { class: "empty" }, "The bootstrap address and CA certificate appear when the cluster is ready.");
  }
  const parts = [
    h("h3", {}, "Bootstrap address"),
    h("div", { class: "actions" }, h("code", { id: "bootstrap" }, c.bootstrap), copyButton("Copy bootstrap address", c.bootstrap)),
  ];
  if (c.ca_cert_pem) {
    parts.push(
      h("h3", {}, "CA certificate"),
      h("p", { class: "muted" }, "Clients connect over TLS and must trust this certificate (ssl.ca.location)."),
      h("pre", { id: "ca-cert", tabindex: "0", "aria-label": "CA certificate (PEM)" }, c.ca_cert_pem),
      h(
        "div",
        { class: "actions" },
        copyButton("Copy CA certificate", c.ca_cert_pem),
        downloadLink("Download ca.pem", "ca.pem", c.ca_cert_pem),
      ),
    );
  }
  return h("div", {}, parts);
}

export async function render(main, { tenant, cluster }, ctx) {
  const heading = title("Cluster");
  const crumbs = h("div", {});
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const events = h("div", {});
  main.append(crumbs, heading, clusterTabs(tenant, cluster, "Overview"), body, h("h2", {}, "Events"), events);

  let timer = null;
  let stopped = false;
  let lastState = null;

  async function refresh() {
    timer = null;
    let c;
    try {
      c = await loadCluster(tenant, cluster);
    } catch (e) {
      if (stopped) return;
      body.replaceChildren(problemAlert(e, "Could not load the cluster"));
      return;
    }
    if (stopped) return;
    heading.textContent = `Cluster ${c.name}`;
    document.title = `Cluster ${c.name} · Fjord console`;
    crumbs.replaceChildren(breadcrumbs([["Clusters", `#/t/${seg(tenant)}/clusters`], [c.name]]));
    body.replaceChildren(
      h("section", { class: "card", "aria-label": "Details" }, details(c)),
      h("section", { class: "card", "aria-labelledby": "connect" }, h("h2", { id: "connect" }, "Connect"), connection(c)),
    );
    if (lastState && lastState !== c.state) announce(`Cluster ${c.name} is now ${c.state}.`);
    lastState = c.state;
    get(`/v1/tenants/${seg(tenant)}/clusters/${seg(cluster)}/events`)
      .then((page) => {
        if (stopped) return;
        events.replaceChildren(
          page.items.length === 0
            ? h("p", { class: "empty" }, "No events yet.")
            : table("Events", [
                ["When", (e) => e.created_at],
                ["From", (e) => e.from_state || "—"],
                ["To", (e) => e.to_state],
                ["Reason", (e) => e.reason],
              ], page.items),
        );
      })
      .catch((e) => !stopped && events.replaceChildren(problemAlert(e, "Could not load events")));
    if (TRANSIENT.has(c.state)) timer = setTimeout(refresh, POLL_MS);
  }

  await refresh();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
