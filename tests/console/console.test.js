// End-to-end tests of the web console in headless Chromium (Debian's package, driven by
// playwright-core) against the real `fjord dev` binary: sign-in, a cluster from
// Provisioning to Ready, a topic, a credential whose secret is shown once, messages
// produced by a real Kafka client and browsed, usage charts, the invoices page (the open month's draft, its CSV), an invalid
// token leading back to sign-in, an administrator choosing a tenant, sign-out, keyboard use
// and a narrow screen. A screenshot of each
// main page goes to tests/console/artifacts/.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";

import { chromium } from "playwright-core";

import { FjordDev, artifactsDir, chromiumBinary, producer } from "./harness.js";

const CHROMIUM = chromiumBinary();
const skip = CHROMIUM ? false : "chromium is not installed (apt-get install chromium, or set CHROMIUM_BIN)";
const WAIT = { timeout: 60_000 };

describe("console", { skip }, () => {
  const dev = new FjordDev();
  let browser;
  let context;
  let page;
  let tenant;
  let apiKey;
  let clusterId;
  let credential;
  let produced = false;
  const pageErrors = [];
  const shots = artifactsDir();

  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const heading = () => page.locator("h1");

  before(async () => {
    await dev.start();
    ({ tenant, apiKey } = await dev.tenantWithAdmin("acme"));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI and containers: Chromium's sandbox needs user namespaces it may not get.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: dev.url });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      // A 401 or 404 the console handles shows as a failed resource load; anything else
      // (a script error, a CSP violation) is a bug.
      if (m.type() === "error" && !/Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    if (browser) await browser.close();
    await dev.stop();
  });

  test("sign-in rejects a wrong key with the API's detail and accepts a real one", async () => {
    await page.goto(`${dev.url}/`);
    await heading().filter({ hasText: "Sign in to Fjord" }).waitFor(WAIT);
    // The heading has focus after navigation, for keyboard and screen-reader users.
    assert.equal(await page.evaluate(() => document.activeElement.tagName), "H1");
    await page.getByLabel("API key").fill("fjk_nope_wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor(WAIT);
    assert.match(await alert.textContent(), /Sign-in failed/);
    await shot("signin");

    // Keyboard only: type the key and press Enter.
    await page.getByLabel("API key").fill(apiKey);
    await page.keyboard.press("Enter");
    await heading().filter({ hasText: "Clusters" }).waitFor(WAIT);
    assert.match(await page.locator(".empty").first().textContent(), /No clusters yet/);
    assert.equal(await page.locator("#nav-clusters").getAttribute("aria-current"), "page");
  });

  test("a new cluster goes from provisioning to ready and shows how to connect", async () => {
    await page.getByLabel("Cluster name").fill("orders-prod");
    await page.getByRole("button", { name: "Create cluster" }).click();
    await heading().filter({ hasText: "Cluster orders-prod" }).waitFor(WAIT);
    clusterId = decodeURIComponent(page.url().split("/clusters/")[1]);
    await page.locator("#cluster-state .badge.ready").waitFor(WAIT);
    const bootstrap = await page.locator("#bootstrap").textContent();
    assert.match(bootstrap, /^127\.0\.0\.1:\d+$/);
    assert.match(await page.locator("#ca-cert").textContent(), /BEGIN CERTIFICATE/);
    // The copy button puts the address on the clipboard.
    await page.getByRole("button", { name: "Copy bootstrap address" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), bootstrap);
    // The events list shows the way there.
    await page.getByRole("cell", { name: "ready" }).first().waitFor(WAIT);
    await shot("cluster");
  });

  test("a topic is created with its partitions and configs", async () => {
    await page.getByRole("link", { name: "Topics" }).click();
    await heading().filter({ hasText: "Topics of orders-prod" }).waitFor(WAIT);
    assert.match(await page.locator(".empty").first().textContent(), /No topics yet/);
    await page.getByLabel("Topic name").fill("orders");
    await page.getByLabel("Partitions").fill("2");
    await page.getByLabel("Retention").selectOption({ label: "7 days" });
    await page.getByRole("button", { name: "Create topic" }).click();
    await page.getByText("Topic orders created.").waitFor(WAIT);
    const row = page.getByRole("row", { name: /orders/ });
    assert.match(await row.textContent(), /retention\.ms=604800000/);
    // A bad name shows the API's detail.
    await page.getByLabel("Topic name").fill("bad name!");
    await page.getByRole("button", { name: "Create topic" }).click();
    await page.getByRole("alert").filter({ hasText: "topic name must be" }).waitFor(WAIT);
    await shot("topics");
  });

  test("a credential's password is shown once, with snippets, and access can be granted", async () => {
    await page.getByRole("link", { name: "Credentials" }).click();
    await heading().filter({ hasText: "Credentials of orders-prod" }).waitFor(WAIT);
    await page.getByLabel("Credential name").fill("checkout");
    await page.getByRole("button", { name: "Create credential" }).click();
    const panel = page.locator("#new-secret");
    await panel.waitFor(WAIT);
    assert.equal(await page.evaluate(() => document.activeElement.id), "new-secret");
    const password = await page.locator("#new-password").textContent();
    const username = await page.locator("#new-username").textContent();
    assert.ok(password.length >= 16, password);
    const text = await panel.textContent();
    assert.match(text, /shown only this once/);
    for (const snippet of ["kcat -b", "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule", "from confluent_kafka import Producer"]) {
      assert.ok(text.includes(snippet), `snippet ${snippet} missing`);
    }
    await page.getByRole("button", { name: "Copy password" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), password);
    await shot("credential-created");
    await page.getByRole("button", { name: "I have stored the password" }).click();
    assert.equal(await panel.count(), 0);

    // Grant produce and consume on the topic.
    await page.getByLabel("Topic", { exact: true }).fill("orders");
    await page.getByRole("button", { name: "Grant access" }).click();
    await page.getByText("Access to orders granted.").waitFor(WAIT);

    // A second credential is revoked (after the confirmation dialog).
    await page.getByLabel("Credential name").fill("temporary");
    await page.getByRole("button", { name: "Create credential" }).click();
    await page.getByRole("button", { name: "I have stored the password" }).click();
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Revoke temporary" }).click();
    // (The same words go to the screen-reader live region too: look in the page itself.)
    await page.locator("#main").getByText("Credential temporary revoked.").waitFor(WAIT);
    // The list is drawn again after the message: wait for the row to go, then check.
    await page.getByRole("button", { name: "Revoke temporary" }).waitFor({ ...WAIT, state: "detached" });
    assert.equal(await page.getByRole("button", { name: "Revoke temporary" }).count(), 0);

    // After a reload the password is nowhere.
    await page.reload();
    await page.getByRole("cell", { name: username }).waitFor(WAIT);
    assert.ok(!(await page.content()).includes(password), "the password must not be shown again");
    await shot("credentials");
    const cluster = await dev.api("GET", `/v1/tenants/${tenant}/clusters/${clusterId}`, null, dev.adminToken, 200);
    credential = { username, password, bootstrap: cluster.bootstrap, caPem: cluster.ca_cert_pem };
  });

  test("a topic's configs are changed on its page", async () => {
    await page.goto(`${dev.url}/#/t/${tenant}/clusters/${clusterId}/topics/orders`);
    await heading().filter({ hasText: "Topic orders" }).waitFor(WAIT);
    await page.getByLabel("Config", { exact: true }).fill("retention.ms");
    await page.getByLabel("Value", { exact: true }).fill("3600000");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByText("retention.ms set.").waitFor(WAIT);
    assert.match(await page.locator("#topic-configs").textContent(), /retention\.ms=3600000/);
    // An invalid value shows the API's detail.
    await page.getByLabel("Config", { exact: true }).fill("cleanup.policy");
    await page.getByLabel("Value", { exact: true }).fill("shred");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("alert").filter({ hasText: "Could not change the config" }).waitFor(WAIT);
  });

  test("messages produced by a Kafka client are browsed", async (t) => {
    const kafka = producer();
    if (!kafka) {
      t.skip("no Kafka client to produce with (confluent-kafka for FJORD_PYTHON, or kcat)");
      return;
    }
    kafka.produce({ ...credential, topic: "orders", count: 30 });
    produced = true;
    await page.goto(`${dev.url}/#/t/${tenant}/clusters/${clusterId}/topics/orders`);
    await heading().filter({ hasText: "Topic orders" }).waitFor(WAIT);
    // librdkafka spreads keyed records over both partitions: find the one with most.
    const counts = [];
    for (const partition of [0, 1]) {
      const p = await dev.api("GET", `/v1/tenants/${tenant}/clusters/${clusterId}/topics/orders/messages?partition=${partition}`, null, dev.adminToken, 200);
      counts.push(p.high_watermark);
    }
    assert.equal(counts[0] + counts[1], 30);
    const partition = counts[0] >= counts[1] ? 0 : 1;
    await page.getByRole("combobox", { name: "Partition", exact: true }).selectOption(String(partition));
    await page.getByRole("combobox", { name: "Messages", exact: true }).selectOption("10");
    await page.getByRole("button", { name: "Show messages" }).click();
    const rows = page.locator("#message-results tbody tr");
    await page.getByText(`Partition ${partition}:`).waitFor(WAIT);
    assert.equal(await rows.count(), Math.min(10, counts[partition]));
    const firstRow = await rows.first().textContent();
    assert.match(firstRow, /order-\d+/);
    assert.match(firstRow, /"total":/);
    assert.match(firstRow, /source: console-test/);
    await shot("messages");
    if (counts[partition] > 10) {
      await page.getByRole("button", { name: "Older" }).click();
      await page.getByText("showing").waitFor(WAIT);
      assert.ok((await rows.count()) > 0);
    }
  });

  test("usage is drawn as a chart per day and dimension", async () => {
    // Brokers meter every 60 s and the control plane collects every 15 s: wait for it.
    const deadline = Date.now() + 150_000;
    let items = [];
    while (Date.now() < deadline) {
      const report = await dev.api("GET", `/v1/tenants/${tenant}/usage?granularity=day&group_by=topic`, null, dev.adminToken, 200);
      items = report.items.filter((i) => i.records_in > 0);
      if (items.length > 0 || !produced) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    await page.getByRole("link", { name: "Usage" }).click();
    await heading().filter({ hasText: "Usage" }).waitFor(WAIT);
    const report = page.locator("#usage-report");
    if (!produced) {
      // Nothing produced (no Kafka client): the empty state says so.
      await report.getByText("No usage recorded").waitFor(WAIT);
    } else {
      assert.ok(items.length > 0, "the produced records were never metered");
      await report.locator("svg.chart rect").first().waitFor(WAIT);
      assert.match(await report.locator("svg.chart").getAttribute("aria-label"), /Bytes in \(produced\) per day, split by cluster/);
      assert.match(await report.locator(".legend").textContent(), /orders-prod/);
      await page.getByRole("combobox", { name: "Split by" }).selectOption("topic");
      await page.getByRole("combobox", { name: "Metric" }).selectOption("records_in");
      await page.getByRole("button", { name: "Update" }).click();
      await report.getByText("Records in per day, split by topic").first().waitFor(WAIT);
      assert.match(await report.locator(".legend").textContent(), /orders-prod \/ orders: 30/);
    }
    await shot("usage");
  });

  test("the invoices page lists the open month's draft invoice with its CSV", async () => {
    await page.getByRole("link", { name: "Invoices" }).click();
    await heading().filter({ hasText: "Invoices" }).waitFor(WAIT);
    const row = page.locator("main table tbody tr").first();
    await row.waitFor(WAIT);
    const month = new Date().toISOString().slice(0, 7);
    assert.match(await row.textContent(), new RegExp(`draft`));
    assert.match(await row.textContent(), new RegExp(`${month}`));
    // The cluster has run since this suite created it: cluster-hours are billed in USD.
    assert.match(await row.locator('td[data-label="Total"]').textContent(), /^\d+\.\d{2} USD$/);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.getByRole("button", { name: `Download invoice ${month} as CSV` }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `invoice-${month}.csv`);
    await shot("invoices");
  });

  test("a narrow screen keeps everything within its width", async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    for (const path of ["clusters", `clusters/${clusterId}`, `clusters/${clusterId}/credentials`]) {
      await page.goto(`${dev.url}/#/t/${tenant}/${path}`);
      await heading().waitFor(WAIT);
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} overflows by ${overflow}px`);
    }
    await shot("narrow-credentials");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("an expired or invalid token leads back to sign-in", async () => {
    await page.goto(`${dev.url}/#/t/${tenant}/clusters`);
    await heading().filter({ hasText: "Clusters" }).waitFor(WAIT);
    // The signature no longer matches: the API answers 401, as for an expired token.
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("fjord.session"));
      s.token = s.token.slice(0, -4) + (s.token.endsWith("AAAA") ? "BBBB" : "AAAA");
      sessionStorage.setItem("fjord.session", JSON.stringify(s));
    });
    await page.getByRole("link", { name: "Usage" }).click();
    await heading().filter({ hasText: "Sign in to Fjord" }).waitFor(WAIT);
    assert.match(await page.locator("main").textContent(), /session has expired/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("fjord.session")), null);
    await shot("session-expired");
  });

  test("a platform administrator picks a tenant, and signing out ends the session", async () => {
    await page.goto(`${dev.url}/#/signin`);
    await heading().filter({ hasText: "Sign in to Fjord" }).waitFor(WAIT);
    await page.getByLabel("API key").fill(dev.adminKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await heading().filter({ hasText: "Tenants" }).waitFor(WAIT);
    assert.match(await page.locator("#who").textContent(), /Platform administrator/);
    await shot("tenants");
    await page.getByRole("link", { name: "acme" }).click();
    await heading().filter({ hasText: "Clusters" }).waitFor(WAIT);
    await page.getByRole("link", { name: "orders-prod" }).waitFor(WAIT);
    await page.getByRole("button", { name: "Sign out" }).click();
    await heading().filter({ hasText: "Sign in to Fjord" }).waitFor(WAIT);
    assert.match(await page.locator("main").textContent(), /You are signed out/);
    // Going back to a page of the console asks to sign in again.
    await page.goto(`${dev.url}/#/t/${tenant}/usage`);
    await heading().filter({ hasText: "Sign in to Fjord" }).waitFor(WAIT);
  });

  test("no script error or policy violation happened", () => {
    assert.deepEqual(pageErrors, []);
  });
});
