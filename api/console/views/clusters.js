// Clusters of a tenant: the list with each one's state, and the form that creates one.
// Creating answers 202 at once; the cluster page then follows it to Ready.

import { all, post, seg } from "../api.js";
import { badge, breadcrumbs, busy, field, h, problemAlert, table, title } from "../ui.js";

export async function render(main, { tenant }, ctx) {
  const base = `/v1/tenants/${seg(tenant)}/clusters`;
  const list = h("div", {}, h("p", { class: "muted" }, "Loading clusters…"));
  const errors = h("div", {});
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { class: "card inline", "aria-labelledby": "create-cluster" },
    field("Cluster name", name, "1 to 63 of a-z, 0-9 and '-'", "grow"),
    h("button", { type: "submit" }, "Create cluster"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    try {
      const created = await busy(form, () => post(base, { name: name.value.trim() }));
      ctx.navigate(
        `#/t/${seg(tenant)}/clusters/${seg(created.id)}`,
        `Cluster ${created.name} created: it is ready to use in a few seconds.`,
      );
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Could not create the cluster"));
      name.focus();
    }
  });
  main.append(
    breadcrumbs([["Clusters"]]),
    title("Clusters"),
    list,
    h("h2", { id: "create-cluster" }, "Create a cluster"),
    errors,
    form,
  );
  try {
    const clusters = (await all(base)).filter((c) => c.state !== "deleted");
    list.replaceChildren(
      clusters.length === 0
        ? h("p", { class: "empty" }, "No clusters yet. Create one below: it is ready to use in a few seconds.")
        : table("Clusters", [
            ["Name", (c) => h("a", { href: `#/t/${seg(tenant)}/clusters/${seg(c.id)}` }, c.name)],
            ["State", (c) => badge(c.state)],
            ["Bootstrap", (c) => (c.bootstrap ? h("code", {}, c.bootstrap) : h("span", { class: "muted" }, "not yet"))],
            ["Created", (c) => c.created_at],
          ], clusters),
    );
  } catch (e) {
    list.replaceChildren(problemAlert(e, "Could not list clusters"));
  }
}
