// The console's shell: a hash router (#/t/<tenant>/clusters/…), the navigation bar, the
// session, focus management and the flash message shown after a redirect. Each page is a
// module in views/ exporting render(main, params, ctx), which may return a cleanup function
// (to stop polling when the page is left).

import { clearSession, session, setUnauthorizedHandler } from "./api.js";
import { h } from "./ui.js";
import * as signin from "./views/signin.js";
import * as tenants from "./views/tenants.js";
import * as clusters from "./views/clusters.js";
import * as cluster from "./views/cluster.js";
import * as topics from "./views/topics.js";
import * as credentials from "./views/credentials.js";
import * as messages from "./views/messages.js";
import * as usage from "./views/usage.js";
import * as invoices from "./views/invoices.js";

const ROUTES = [
  [/^\/signin$/, signin, [], "signin"],
  [/^\/tenants$/, tenants, [], "tenants"],
  [/^\/t\/([^/]+)\/clusters$/, clusters, ["tenant"], "clusters"],
  [/^\/t\/([^/]+)\/clusters\/([^/]+)$/, cluster, ["tenant", "cluster"], "clusters"],
  [/^\/t\/([^/]+)\/clusters\/([^/]+)\/topics$/, topics, ["tenant", "cluster"], "clusters"],
  [/^\/t\/([^/]+)\/clusters\/([^/]+)\/topics\/([^/]+)$/, messages, ["tenant", "cluster", "topic"], "clusters"],
  [/^\/t\/([^/]+)\/clusters\/([^/]+)\/credentials$/, credentials, ["tenant", "cluster"], "clusters"],
  [/^\/t\/([^/]+)\/usage$/, usage, ["tenant"], "usage"],
  [/^\/t\/([^/]+)\/invoices$/, invoices, ["tenant"], "invoices"],
];

const main = document.getElementById("main");
let cleanup = null;
let flash = null;
let renderSeq = 0;

/** Goes to `hash` (e.g. "#/signin"), optionally with a message for the next page. */
export function navigate(hash, message) {
  if (message) flash = message;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function home(s) {
  return s.tenant ? `#/t/${encodeURIComponent(s.tenant)}/clusters` : "#/tenants";
}

function updateChrome(s, section, tenant) {
  const nav = document.getElementById("nav");
  const box = document.getElementById("session");
  nav.hidden = !s;
  box.hidden = !s;
  if (!s) return;
  document.getElementById("who").textContent = s.tenant ? `Role: ${s.role}` : "Platform administrator";
  const t = tenant || s.tenant;
  const links = { clusters: "clusters", usage: "usage", invoices: "invoices" };
  for (const [name, path] of Object.entries(links)) {
    const a = document.getElementById(`nav-${name}`);
    a.hidden = !t;
    if (t) a.href = `#/t/${encodeURIComponent(t)}/${path}`;
  }
  document.getElementById("nav-tenants").hidden = !!s.tenant;
  for (const a of nav.querySelectorAll("a")) {
    if (a.id === `nav-${section}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  const seq = ++renderSeq;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page's cleanup must not block navigation */
    }
    cleanup = null;
  }
  const path = location.hash.replace(/^#/, "") || "/";
  const s = session();
  if (!s && path !== "/signin") {
    navigate("#/signin", flash);
    return;
  }
  if (path === "/" || path === "") {
    navigate(s ? home(s) : "#/signin");
    return;
  }
  if (s && path === "/signin") {
    navigate(home(s));
    return;
  }
  const found = ROUTES.map(([re, view, names, section]) => [path.match(re), view, names, section]).find(([m]) => m);
  const message = flash;
  flash = null;
  if (!found) {
    updateChrome(s, null, null);
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, "There is no such page in the console. ", h("a", { href: "#/" }, "Go to the start page"), "."),
    );
    focusHeading();
    return;
  }
  const [m, view, names, section] = found;
  const params = {};
  names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
  updateChrome(s, section, params.tenant);
  main.setAttribute("aria-busy", "true");
  const frame = h("div", {});
  const flashSlot = message ? h("div", { class: "alert info", role: "status" }, message) : null;
  try {
    const result = await view.render(frame, params, { navigate, session: s, isCurrent: () => seq === renderSeq });
    if (seq !== renderSeq) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (e) {
    if (seq !== renderSeq) return;
    frame.replaceChildren(
      h("h1", { tabindex: "-1" }, "Something went wrong"),
      h("div", { class: "alert", role: "alert" }, e.detail || e.message || String(e)),
    );
  }
  main.removeAttribute("aria-busy");
  main.replaceChildren(...(flashSlot ? [flashSlot] : []), frame);
  focusHeading();
}

/** Moves focus to the page's heading so keyboard and screen-reader users start there. */
function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) heading.focus();
  else main.focus();
}

document.getElementById("signout").addEventListener("click", () => {
  clearSession();
  navigate("#/signin", "You are signed out.");
});

setUnauthorizedHandler((message) => {
  if (location.hash !== "#/signin") navigate("#/signin", message);
});

window.addEventListener("hashchange", route);
route();
