// Smoke test of the TypeScript SDK against a live control plane: the real `fjord dev`
// (FJORD_BIN, default ${CARGO_TARGET_DIR:-target}/debug/fjord) on a free port with a fresh
// data directory. Compiled by tsc first, so a spec change that breaks these calls fails the
// type-check before anything runs.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { FjordApiError, createFjordClient, unwrap, type FjordClient } from "../src/index.js";

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..", "..");
const TIMEOUT_MS = 60_000;

function fjordBinary(): string {
  if (process.env.FJORD_BIN) return process.env.FJORD_BIN;
  const target = resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? "target");
  return join(target, "debug", "fjord");
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => ok(port));
    });
  });
}

let proc: ChildProcess | undefined;
let dir = "";
let stderr = "";
let baseUrl = "";
let adminKey = "";

before(async () => {
  const binary = fjordBinary();
  assert.ok(existsSync(binary), `fjord binary not found at ${binary}; build it (cargo build -p fjord-api --bin fjord) or set FJORD_BIN`);
  dir = mkdtempSync(join(tmpdir(), "fjord-ts-sdk-"));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ["dev", "--data-dir", join(dir, "data"), "--listen", `127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc = child;
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  adminKey = await new Promise<string>((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`fjord dev printed no key in time:\n${out}\n${stderr}`)), TIMEOUT_MS);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = out.match(/Administrator API key \(shown only now, store it\): (\S+)/);
      if (m?.[1]) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on("exit", (code) => fail(new Error(`fjord dev exited ${code}:\n${stderr}`)));
  });
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(`${baseUrl}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    assert.ok(Date.now() < deadline, `fjord dev not ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc?.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForState(fjord: FjordClient, tenant_id: string, cluster_id: string, state: string) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const cluster = unwrap(
      await fjord.GET("/v1/tenants/{tenant_id}/clusters/{cluster_id}", { params: { path: { tenant_id, cluster_id } } }),
    );
    if (cluster.state === state) return cluster;
    assert.notEqual(cluster.state, "failed", `cluster failed: ${cluster.state_reason}`);
    assert.ok(Date.now() < deadline, `cluster stuck in ${cluster.state}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("the TypeScript SDK drives a tenant from sign-up to a deleted cluster", async () => {
  const fjord = createFjordClient({ baseUrl });

  // Without a token: the problem comes back typed, with the status.
  const anonymous = await fjord.GET("/v1/tenants", {});
  assert.equal(anonymous.response.status, 401);
  assert.equal(anonymous.error?.status, 401);

  const token = await fjord.login(adminKey);
  assert.equal(token.token_type.toLowerCase(), "bearer");
  assert.ok(token.expires_in > 0);

  const tenant = unwrap(await fjord.POST("/v1/tenants", { body: { name: `ts-sdk-${Date.now()}` } }));
  const tenant_id = tenant.id;
  const created = unwrap(
    await fjord.POST("/v1/tenants/{tenant_id}/clusters", { params: { path: { tenant_id } }, body: { name: "orders" } }),
  );
  assert.equal(created.name, "orders");
  const cluster = await waitForState(fjord, tenant_id, created.id, "ready");
  assert.match(cluster.bootstrap ?? "", /^127\.0\.0\.1:\d+/);
  const cluster_id = cluster.id;
  const path = { tenant_id, cluster_id };

  const listed = unwrap(await fjord.GET("/v1/tenants/{tenant_id}/clusters", { params: { path: { tenant_id } } }));
  assert.deepEqual(listed.items.map((c) => c.id), [cluster_id]);

  const topic = unwrap(
    await fjord.POST("/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics", {
      params: { path },
      body: { name: "payments", partitions: 3, configs: { "retention.ms": "3600000" } },
    }),
  );
  assert.equal(topic.partitions, 3);
  const described = unwrap(
    await fjord.GET("/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}", {
      params: { path: { ...path, topic: "payments" } },
    }),
  );
  assert.equal(described.configs["retention.ms"], "3600000");

  const credential = unwrap(
    await fjord.POST("/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials", { params: { path }, body: { name: "app" } }),
  );
  assert.ok(credential.password.length >= 16, "a generated password");
  const revoked = await fjord.DELETE("/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials/{credential_id}", {
    params: { path: { ...path, credential_id: credential.id } },
  });
  assert.equal(revoked.response.status, 204);

  // A wrong confirmation is refused with a problem; the right one deletes.
  const refused = await fjord.DELETE("/v1/tenants/{tenant_id}/clusters/{cluster_id}", {
    params: { path, query: { confirm: "not-its-name" } },
  });
  assert.ok(refused.response.status >= 400 && refused.response.status < 500, `got ${refused.response.status}`);
  assert.throws(() => unwrap(refused), FjordApiError);
  const deleting = unwrap(
    await fjord.DELETE("/v1/tenants/{tenant_id}/clusters/{cluster_id}", { params: { path, query: { confirm: "orders" } } }),
  );
  assert.ok(["deleting", "deleted"].includes(deleting.state), deleting.state);
  await waitForState(fjord, tenant_id, cluster_id, "deleted");
});
