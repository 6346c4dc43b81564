// Small DOM helpers. Everything is built with createElement and textContent, never
// innerHTML, so no API value can inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** h("a", {href: "#/"}, "text", child, ...): an element. `on*` attributes become listeners. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Tells screen readers (the polite live region). */
export function announce(text) {
  const region = document.getElementById("status");
  region.textContent = "";
  // A new text node after a tick is announced even when it repeats the last one.
  setTimeout(() => (region.textContent = text), 30);
}

/** An alert showing an API problem: its title and detail. */
export function problemAlert(error, what) {
  const detail = error && error.detail ? error.detail : String(error && error.message ? error.message : error);
  return h(
    "div",
    { class: "alert", role: "alert" },
    h("strong", {}, what ? `${what}: ` : "", error && error.title ? `${error.title}. ` : ""),
    detail,
  );
}

/** Replaces the content of `slot` with an alert for `error`. */
export function showProblem(slot, error, what) {
  slot.replaceChildren(problemAlert(error, what));
}

/** A labelled form field. */
export function field(label, input, hint, cls) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const children = [h("label", { for: id }, label), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    children.push(h("span", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: cls ? `field ${cls}` : "field" }, ...children);
}

/** A button that copies `text()` to the clipboard and says so. */
export function copyButton(label, text) {
  const button = h("button", { type: "button", class: "secondary" }, label);
  button.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      // Clipboard API refused (no permission or insecure context): fall back to a selection.
      const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
      area.value = value;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    announce(`${label}: copied to the clipboard`);
    setTimeout(() => (button.textContent = label), 2000);
  });
  return button;
}

/** A table; `columns` are [header, cell(row) → node|string, {num}]. Stacks on narrow screens. */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "stack" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([name, , o]) => h("th", { scope: "col", class: o && o.num ? "num" : null }, name)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", {}, columns.map(([name, cell, o]) => h("td", { "data-label": name, class: o && o.cls ? o.cls : o && o.num ? "num" : null }, cell(row)))),
        ),
      ),
    ),
  );
}

/** The page title: the main heading, focused after navigation so screen readers read it. */
export function title(text) {
  document.title = `${text} · Fjord console`;
  return h("h1", { tabindex: "-1" }, text);
}

export function breadcrumbs(items) {
  return h(
    "nav",
    { "aria-label": "Breadcrumbs" },
    h("ol", { class: "breadcrumbs" }, items.map(([label, href]) => h("li", {}, href ? h("a", { href }, label) : h("span", { "aria-current": "page" }, label)))),
  );
}

/** Human-readable bytes. */
export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = Number(n) || 0;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function badge(state) {
  return h("span", { class: `badge ${state}` }, state);
}

/** Disables a form's controls while `work` runs. */
export async function busy(form, work) {
  const controls = [...form.querySelectorAll("button, input, select, textarea")];
  const was = controls.map((c) => c.disabled);
  controls.forEach((c) => (c.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    controls.forEach((c, i) => (c.disabled = was[i]));
    form.removeAttribute("aria-busy");
  }
}
