// Invoices of a tenant, from GET /v1/tenants/{t}/invoices. A server without billing answers
// that route 404 ("no such route"): the page says billing is not enabled instead of failing.

import { get, seg } from "../api.js";
import { breadcrumbs, h, problemAlert, table, title } from "../ui.js";

function money(amount, currency) {
  if (amount === undefined || amount === null) return "—";
  const n = Number(amount);
  return Number.isFinite(n) ? `${n.toFixed(2)} ${currency || ""}`.trim() : String(amount);
}

export async function render(main, { tenant }) {
  const out = h("div", {}, h("p", { class: "muted" }, "Loading invoices…"));
  main.append(breadcrumbs([["Invoices"]]), title("Invoices"), out);
  try {
    const page = await get(`/v1/tenants/${seg(tenant)}/invoices`);
    const items = (page && page.items) || [];
    out.replaceChildren(
      items.length === 0
        ? h("p", { class: "empty" }, "No invoices yet. The first one is issued at the end of the billing period.")
        : table("Invoices", [
            ["Period", (i) => `${(i.period_start || "").slice(0, 10)} – ${(i.period_end || "").slice(0, 10)}`],
            ["Status", (i) => i.status || "—"],
            ["Total", (i) => money(i.total ?? i.total_amount, i.currency), { num: true }],
            ["Id", (i) => h("code", {}, i.id || "")],
          ], items),
    );
  } catch (e) {
    if (e.status === 404 && /route/i.test(e.detail)) {
      out.replaceChildren(
        h(
          "div",
          { class: "alert info", id: "billing-disabled" },
          h("h2", {}, "Billing is not enabled on this server"),
          h("p", {}, "This Fjord server meters usage but does not issue invoices. See the Usage page for what your clusters consumed."),
        ),
      );
    } else {
      out.replaceChildren(problemAlert(e, "Could not load invoices"));
    }
  }
}
