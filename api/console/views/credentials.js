// SASL/SCRAM credentials of a cluster: create (the password is shown this once, with copy
// buttons and client snippets), grant topic access through ACLs, and revoke.

import { all, del, post, seg } from "../api.js";
import { announce, breadcrumbs, busy, copyButton, field, h, problemAlert, table, title } from "../ui.js";
import { clusterTabs, loadCluster } from "./cluster.js";

function mechanismOf(cred) {
  const m = cred.mechanisms || [];
  return m.includes("SCRAM-SHA-512") ? "SCRAM-SHA-512" : m[0] || "SCRAM-SHA-512";
}

/** Ready-to-paste client configurations for a new credential. */
export function snippets(cluster, cred) {
  const bootstrap = cluster.bootstrap || "<bootstrap>";
  const mech = mechanismOf(cred);
  const tls = !!cluster.ca_cert_pem;
  const protocol = tls ? "SASL_SSL" : "SASL_PLAINTEXT";
  const kcat = [
    `kcat -b ${bootstrap} \\`,
    `  -X security.protocol=${protocol} \\`,
    tls ? "  -X ssl.ca.location=ca.pem \\" : null,
    `  -X sasl.mechanisms=${mech} \\`,
    `  -X sasl.username='${cred.username}' \\`,
    `  -X sasl.password='${cred.password}' \\`,
    "  -L",
  ].filter(Boolean).join("\n");
  const java = [
    `bootstrap.servers=${bootstrap}`,
    `security.protocol=${protocol}`,
    `sasl.mechanism=${mech}`,
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${cred.username}" password="${cred.password}";`,
    tls ? "ssl.truststore.type=PEM" : null,
    tls ? "ssl.truststore.location=ca.pem" : null,
  ].filter(Boolean).join("\n");
  const python = [
    "from confluent_kafka import Producer",
    "",
    "producer = Producer({",
    `    "bootstrap.servers": "${bootstrap}",`,
    `    "security.protocol": "${protocol}",`,
    tls ? '    "ssl.ca.location": "ca.pem",' : null,
    `    "sasl.mechanisms": "${mech}",`,
    `    "sasl.username": "${cred.username}",`,
    `    "sasl.password": "${cred.password}",`,
    "})",
  ].filter((l) => l !== null).join("\n");
  return [
    ["kcat", kcat],
    ["Java (client.properties)", java],
    ["Python (confluent-kafka)", python],
  ];
}

function secretPanel(cluster, cred, onDone) {
  const done = h("button", { type: "button" }, "I have stored the password");
  const panel = h(
    "section",
    { class: "alert warn", id: "new-secret", "aria-labelledby": "secret-title", tabindex: "-1" },
    h("h2", { id: "secret-title" }, `Credential ${cred.name} created`),
    h("p", {}, h("strong", {}, "Copy the password now: it is shown only this once and cannot be retrieved later.")),
    h("dl", { class: "props" },
      h("dt", {}, "Username"), h("dd", {}, h("code", { id: "new-username" }, cred.username), " ", copyButton("Copy username", cred.username)),
      h("dt", {}, "Password"), h("dd", {}, h("code", { id: "new-password", class: "secret" }, cred.password), " ", copyButton("Copy password", cred.password)),
    ),
    h("p", { class: "muted" }, "The brokers enforce ACLs: grant the credential access to topics below before using it."),
    snippets(cluster, cred).map(([name, text]) => [
      h("h3", {}, name),
      h("pre", { tabindex: "0", "aria-label": `${name} configuration` }, text),
      copyButton(`Copy ${name} snippet`, text),
    ]),
    h("p", {}, done),
  );
  done.addEventListener("click", onDone);
  return panel;
}

export async function render(main, { tenant, cluster }) {
  const base = `/v1/tenants/${seg(tenant)}/clusters/${seg(cluster)}`;
  const crumbs = h("div", {});
  const heading = title("Credentials");
  const secretSlot = h("div", {});
  const list = h("div", {}, h("p", { class: "muted" }, "Loading credentials…"));
  const errors = h("div", {});
  const grantErrors = h("div", {});
  let clusterInfo = { bootstrap: null, ca_cert_pem: null };
  let credentials = [];

  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "card inline", "aria-labelledby": "create-credential" },
    field("Credential name", name, "1 to 63 of a-z, 0-9 and '-'", "grow"),
    h("button", { type: "submit" }, "Create credential"),
  );

  const who = h("select", { name: "principal" });
  const topic = h("input", { name: "topic", required: true, autocomplete: "off", placeholder: "orders" });
  const produce = h("input", { type: "checkbox", name: "produce", checked: true, id: "grant-produce" });
  const consume = h("input", { type: "checkbox", name: "consume", checked: true, id: "grant-consume" });
  const grantForm = h(
    "form",
    { class: "card inline", "aria-labelledby": "grant" },
    field("Credential", who),
    field("Topic", topic, "A topic name, or * for every topic", "grow"),
    h("fieldset", { class: "field" }, h("legend", {}, "Allow"),
      h("div", {}, produce, h("label", { for: "grant-produce" }, " Produce")),
      h("div", {}, consume, h("label", { for: "grant-consume" }, " Consume (any consumer group)"))),
    h("button", { type: "submit" }, "Grant access"),
  );

  async function load() {
    try {
      credentials = await all(`${base}/credentials`);
      who.replaceChildren(...credentials.map((c) => h("option", { value: `User:${c.username}` }, c.name)));
      grantForm.hidden = credentials.length === 0;
      list.replaceChildren(
        credentials.length === 0
          ? h("p", { class: "empty" }, "No credentials yet. Create one below to connect Kafka clients.")
          : table("Credentials", [
              ["Name", (c) => c.name],
              ["Username", (c) => h("code", {}, c.username)],
              ["Mechanisms", (c) => c.mechanisms.join(", ")],
              ["Created", (c) => c.created_at],
              ["", (c) => h("button", { type: "button", class: "danger", "aria-label": `Revoke ${c.name}`, onclick: () => revoke(c) }, "Revoke")],
            ], credentials),
      );
    } catch (e) {
      list.replaceChildren(problemAlert(e, "Could not list credentials"));
    }
  }

  async function revoke(c) {
    if (!window.confirm(`Revoke credential ${c.name}? Clients using it are disconnected and cannot sign in again.`)) return;
    errors.replaceChildren();
    try {
      await del(`${base}/credentials/${seg(c.id)}`);
      announce(`Credential ${c.name} revoked.`);
      errors.replaceChildren(h("div", { class: "alert success", role: "status" }, `Credential ${c.name} revoked.`));
      await load();
      heading.focus();
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Could not revoke the credential"));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    try {
      const created = await busy(form, () => post(`${base}/credentials`, { name: name.value.trim() }));
      name.value = "";
      const panel = secretPanel(clusterInfo, created, () => {
        secretSlot.replaceChildren();
        name.focus();
      });
      secretSlot.replaceChildren(panel);
      panel.focus();
      await load();
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Could not create the credential"));
      name.focus();
    }
  });

  grantForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    grantErrors.replaceChildren();
    const resource = topic.value.trim();
    const acls = [];
    const acl = (resource_type, resource_name, operation) => ({
      principal: who.value, resource_type, pattern_type: "literal", resource_name, operation, permission: "allow",
    });
    if (produce.checked) acls.push(acl("topic", resource, "write"));
    if (consume.checked) acls.push(acl("topic", resource, "read"), acl("group", "*", "read"));
    if (!resource || acls.length === 0) {
      grantErrors.replaceChildren(problemAlert({ title: "Nothing to grant", detail: "Name a topic and choose Produce, Consume or both." }));
      return;
    }
    try {
      await busy(grantForm, async () => {
        for (const a of acls) await post(`${base}/acls`, a);
      });
      grantErrors.replaceChildren(h("div", { class: "alert success", role: "status" }, `Access to ${resource} granted.`));
    } catch (e) {
      grantErrors.replaceChildren(problemAlert(e, "Could not grant access"));
    }
  });

  main.append(
    crumbs,
    heading,
    clusterTabs(tenant, cluster, "Credentials"),
    secretSlot,
    errors,
    list,
    h("h2", { id: "create-credential" }, "Create a credential"),
    form,
    h("h2", { id: "grant" }, "Grant topic access"),
    grantErrors,
    grantForm,
  );
  try {
    clusterInfo = await loadCluster(tenant, cluster);
    heading.textContent = `Credentials of ${clusterInfo.name}`;
    crumbs.replaceChildren(breadcrumbs([["Clusters", `#/t/${seg(tenant)}/clusters`], [clusterInfo.name, `#/t/${seg(tenant)}/clusters/${seg(cluster)}`], ["Credentials"]]));
  } catch {
    /* the list below shows the problem */
  }
  await load();
}
