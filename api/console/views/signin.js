// Sign-in: an API key (fjk_…) is exchanged at POST /v1/auth/token for a short-lived token,
// kept in sessionStorage for this tab only. The key itself is never stored.

import { signIn } from "../api.js";
import { busy, field, h, problemAlert, title } from "../ui.js";

export async function render(main, _params, ctx) {
  const key = h("input", {
    id: "api-key",
    name: "api_key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "fjk_…",
  });
  const errors = h("div", {});
  const form = h(
    "form",
    { class: "card", novalidate: true },
    field("API key", key, "An API key of your user or service account; ask your tenant administrator for one."),
    h("p", {}, h("button", { type: "submit" }, "Sign in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    const value = key.value.trim();
    if (!value) {
      errors.replaceChildren(problemAlert({ title: "Missing API key", detail: "Enter an API key to sign in." }));
      key.setAttribute("aria-invalid", "true");
      key.focus();
      return;
    }
    try {
      const s = await busy(form, () => signIn(value));
      key.value = "";
      ctx.navigate(s.tenant ? `#/t/${encodeURIComponent(s.tenant)}/clusters` : "#/tenants");
    } catch (e) {
      errors.replaceChildren(problemAlert(e, "Sign-in failed"));
      key.setAttribute("aria-invalid", "true");
      key.focus();
    }
  });
  main.append(
    h(
      "div",
      { class: "signin" },
      title("Sign in to Fjord"),
      h("p", { class: "muted" }, "Manage your Kafka clusters, topics and credentials."),
      errors,
      form,
    ),
  );
}
