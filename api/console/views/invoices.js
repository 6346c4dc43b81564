// Invoices of a tenant, from GET /v1/tenants/{t}/invoices: the open month's draft, then final
// invoices and adjustments. Amounts are decimal strings from the API, shown as sent (no
// floating point). Each row downloads its CSV (…/invoices/{id}?format=csv). A server without
// billing answers the list 404 ("no such route"): the page then says billing is not enabled.

import { get, seg, session } from "../api.js";
import { breadcrumbs, h, problemAlert, table, title } from "../ui.js";

function money(amount, currency) {
  if (amount === undefined || amount === null) return "—";
  return `${amount} ${currency || ""}`.trim();
}

async function downloadCsv(tenant, invoice, button) {
  const s = session();
  button.disabled = true;
  try {
    const response = await fetch(`/v1/tenants/${seg(tenant)}/invoices/${seg(invoice.id)}?format=csv`, {
      headers: { authorization: `Bearer ${s ? s.token : ""}`, accept: "text/csv" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const a = h("a", { href: url, download: `invoice-${invoice.id}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(url);
  } catch (e) {
    button.replaceWith(h("span", { class: "muted" }, `CSV failed: ${e.message}`));
  } finally {
    button.disabled = false;
  }
}

export async function render(main, { tenant }) {
  const out = h("div", {}, h("p", { class: "muted" }, "Loading invoices…"));
  main.append(breadcrumbs([["Invoices"]]), title("Invoices"), out);
  try {
    const page = await get(`/v1/tenants/${seg(tenant)}/invoices`);
    const items = (page && page.items) || [];
    out.replaceChildren(
      h("p", { class: "muted" }, "The open month's invoice is a draft that grows with usage; it becomes final after the month ends. Usage that arrives later is billed as an adjustment."),
      items.length === 0
        ? h("p", { class: "empty" }, "No invoices yet. The first one starts with your first cluster.")
        : table("Invoices", [
            ["Period", (i) => `${(i.period_start || "").slice(0, 10)} – ${(i.period_end || "").slice(0, 10)}`],
            ["Kind", (i) => i.kind || "invoice"],
            ["Status", (i) => h("span", { class: `status ${i.status || ""}` }, i.status || "—")],
            ["Lines", (i) => String((i.lines || []).length), { num: true }],
            ["Total", (i) => money(i.total, i.currency), { num: true }],
            ["Id", (i) => h("code", {}, i.id || "")],
            ["CSV", (i) => {
              const button = h("button", { type: "button", class: "secondary", "aria-label": `Download invoice ${i.id} as CSV` }, "Download CSV");
              button.addEventListener("click", () => downloadCsv(tenant, i, button));
              return button;
            }],
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
