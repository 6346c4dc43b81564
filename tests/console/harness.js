// What the console's browser tests need around the browser: the real `fjord dev` binary
// (embedded database and brokers) on a free port, REST calls to set up a tenant, a Kafka
// producer for test records (confluent-kafka in Python, or kcat), and Debian's chromium.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, "..", "..");
export const ARTIFACTS = join(HERE, "artifacts");
const TIMEOUT_MS = 60_000;

export function fjordBinary() {
  if (process.env.FJORD_BIN) return process.env.FJORD_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, "target");
  return join(target, "debug", "fjord");
}

/** Debian's chromium, or CHROMIUM_BIN; null when there is none. */
export function chromiumBinary() {
  const candidates = [process.env.CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);
  return candidates.find((p) => existsSync(p)) || null;
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** `fjord dev` as a child process, with its administrator's API key. */
export class FjordDev {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), "fjord-console-"));
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const binary = fjordBinary();
    if (!existsSync(binary)) throw new Error(`fjord binary not found at ${binary}; build it with cargo build -p fjord-api --bin fjord or set FJORD_BIN`);
    this.stderr = "";
    this.proc = spawn(binary, ["dev", "--data-dir", join(this.dir, "data"), "--listen", `127.0.0.1:${this.port}`], {
      env: { ...process.env, RUST_LOG: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d.toString()).slice(-20000);
    });
    this.adminKey = await new Promise((ok, fail) => {
      let out = "";
      const timer = setTimeout(() => fail(new Error(`fjord dev printed no key in time:\n${out}\n${this.stderr}`)), TIMEOUT_MS);
      this.proc.stdout.on("data", (d) => {
        out += d.toString();
        const m = out.match(/Administrator API key \(shown only now, store it\): (\S+)/);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
      this.proc.on("exit", (code) => fail(new Error(`fjord dev exited ${code}:\n${this.stderr}`)));
    });
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`fjord dev not ready:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.adminToken = (await this.api("POST", "/v1/auth/token", { api_key: this.adminKey }, null, 200)).access_token;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.on("exit", r));
      this.proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** One REST call; asserts the status when `expect` is given. */
  async api(method, path, body, token = this.adminToken, expect) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined && body !== null) headers["content-type"] = "application/json";
    const res = await fetch(`${this.url}${path}`, { method, headers, body: body == null ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (expect !== undefined && res.status !== expect) {
      throw new Error(`${method} ${path}: expected ${expect}, got ${res.status}: ${text}`);
    }
    return json;
  }

  /** A tenant with a tenant administrator; returns {tenant, apiKey}. */
  async tenantWithAdmin(name) {
    const tenant = await this.api("POST", "/v1/tenants", { name }, undefined, 201);
    const user = await this.api("POST", `/v1/tenants/${tenant.id}/users`, { name: "alice", role: "tenant-admin" }, undefined, 201);
    const key = await this.api("POST", `/v1/tenants/${tenant.id}/api-keys`, { principal_id: user.id, name: "console" }, undefined, 201);
    return { tenant: tenant.id, apiKey: key.key };
  }
}

const PRODUCER = `
import json, sys
from confluent_kafka import Producer
cfg = json.loads(sys.argv[1])
p = Producer(cfg["client"])
errors = []
for i in range(cfg["count"]):
    p.produce(cfg["topic"], key=f"order-{i}", value=json.dumps({"order": i, "total": 10 * i}),
              headers=[("source", b"console-test")],
              on_delivery=lambda err, msg: err and errors.append(str(err)))
p.flush(30)
if errors:
    sys.exit("delivery failed: " + "; ".join(errors))
`;

/** A way to produce test records, or null (then tests that need records skip). */
export function producer() {
  const python = process.env.FJORD_PYTHON || "python3";
  const probe = spawnSync(python, ["-c", "import confluent_kafka"], { encoding: "utf8" });
  if (probe.status === 0) {
    return {
      name: `confluent-kafka (${python})`,
      produce({ bootstrap, caPem, username, password, topic, count }) {
        const dir = mkdtempSync(join(tmpdir(), "fjord-produce-"));
        const ca = join(dir, "ca.pem");
        writeFileSync(ca, caPem);
        const cfg = {
          topic,
          count,
          client: {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": ca,
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": username,
            "sasl.password": password,
          },
        };
        const run = spawnSync(python, ["-c", PRODUCER, JSON.stringify(cfg)], { encoding: "utf8", timeout: 60_000 });
        rmSync(dir, { recursive: true, force: true });
        if (run.status !== 0) throw new Error(`producing failed: ${run.stderr}${run.stdout}`);
      },
    };
  }
  const kcat = ["kcat", "kafkacat"].find((k) => spawnSync("which", [k]).status === 0);
  if (kcat) {
    return {
      name: kcat,
      produce({ bootstrap, caPem, username, password, topic, count }) {
        const dir = mkdtempSync(join(tmpdir(), "fjord-produce-"));
        const ca = join(dir, "ca.pem");
        writeFileSync(ca, caPem);
        const lines = Array.from({ length: count }, (_, i) => `order-${i}:${JSON.stringify({ order: i, total: 10 * i })}`).join("\n");
        const run = spawnSync(kcat, ["-b", bootstrap, "-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${ca}`, "-X", "sasl.mechanisms=SCRAM-SHA-512",
          "-X", `sasl.username=${username}`, "-X", `sasl.password=${password}`, "-P", "-t", topic, "-K", ":"], { input: `${lines}\n`, encoding: "utf8", timeout: 60_000 });
        rmSync(dir, { recursive: true, force: true });
        if (run.status !== 0) throw new Error(`kcat failed: ${run.stderr}`);
      },
    };
  }
  return null;
}

export function artifactsDir() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}
