// Tenants, for platform administrators (whose token names no tenant): pick one to manage,
// or create one.

import { all, post } from "../api.js";
import { busy, field, h, problemAlert, table, title } from "../ui.js";

export async function render(main, _params, ctx) {
  if (ctx.session.tenant) {
    ctx.navigate(`#/t/${encodeURIComponent(ctx.session.tenant)}/clusters`);
    return;
  }
  const list = h("div", {});
  const errors = h("div", {});
  const name = h("input", { name: "name", required: true, autocomplete: "off", pattern: "[a-z0-9]([a-z0-9-]*[a-z0-9])?" });
  const form = h(
    "form",
    { class: "card inline" },
    field("Tenant name", name, "a-z, 0-9 and '-'"),
    h("button", { type: "submit" }, "Create tenant"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    try {
      const tenant = await busy(form, () => post("/v1/tenants", { name: name.value.trim() }));
      ctx.navigate(`#/t/${encodeURIComponent(tenant.id)}/clusters`, `Tenant ${tenant.name} created.`);
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Could not create the tenant"));
      name.focus();
    }
  });
  main.append(title("Tenants"), h("h2", {}, "Create a tenant"), errors, form, h("h2", {}, "All tenants"), list);
  try {
    const tenants = await all("/v1/tenants");
    list.replaceChildren(
      tenants.length === 0
        ? h("p", { class: "empty" }, "No tenants yet. Create the first one above.")
        : table("Tenants", [
            ["Name", (t) => h("a", { href: `#/t/${encodeURIComponent(t.id)}/clusters` }, t.name)],
            ["Id", (t) => h("code", {}, t.id)],
            ["Created", (t) => t.created_at],
          ], tenants),
    );
  } catch (e) {
    list.replaceChildren(problemAlert(e, "Could not list tenants"));
  }
}
