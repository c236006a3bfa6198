// End to end: keel's own webhook deliveries, to a receiver here registered with `keel webhooks create`
// (through KEEL_CLI), verified by npm standardwebhooks (its Webhook class, and the client's
// verifyWebhook on top of it) with the secret the CLI printed; across `keel webhooks rotate`, whose
// deliveries carry two signatures. Run by scripts/e2e-node.sh (`make e2e-node`), which starts keel with
// WEBHOOKS_ALLOW_PRIVATE=true (the receiver is on 127.0.0.1).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

import { Webhook } from "standardwebhooks";

import { createKeelClient, verifyWebhook, WebhookVerificationError } from "../src/client.js";

const baseUrl = (process.env.KEEL_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const cli = process.env.KEEL_CLI;

async function keelCommand(...args: string[]): Promise<string> {
  assert.ok(cli, "KEEL_CLI runs keel's commands (scripts/e2e-node.sh sets it)");
  return (await promisify(execFile)(cli, args)).stdout;
}

interface Delivery {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A receiver that records each delivery as it came (raw body) and answers 204. */
async function receiver() {
  const got: Delivery[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    got.push({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  /** The first delivery of an event of this type about this user. */
  async function wait(type: string, userId: number): Promise<Delivery> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const d = got.find((g) => {
        const ev = JSON.parse(g.body.toString()) as { type: string; data: { user_id?: number } };
        return ev.type === type && ev.data.user_id === userId;
      });
      if (d) return d;
      assert.ok(Date.now() < deadline, `no ${type} delivery within 30 s`);
      await sleep(50);
    }
  }
  return { url, wait, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The three Standard Webhooks headers of a delivery, as standardwebhooks' Webhook.verify takes them. */
function standardHeaders(h: IncomingHttpHeaders): Record<string, string> {
  return {
    "webhook-id": String(h["webhook-id"]),
    "webhook-timestamp": String(h["webhook-timestamp"]),
    "webhook-signature": String(h["webhook-signature"]),
  };
}

test("npm standardwebhooks verifies keel's deliveries, with either secret during a rotation", async (t) => {
  const rc = await receiver();
  t.after(rc.close);
  const created = await keelCommand("webhooks", "create", "--url", rc.url, "--event", "user.created", "--event", "session.created");
  const id = /id: +(\S+)/.exec(created)?.[1];
  const secret = /secret: (whsec_\S+)/.exec(created)?.[1];
  assert.ok(id && secret, `keel webhooks create printed ${created}`);
  t.after(() => keelCommand("webhooks", "delete", id));

  const keel = createKeelClient({ baseUrl });
  const email = `hooks-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const reg = await keel.POST("/register", { body: { email, password } });
  assert.ok(reg.data, JSON.stringify(reg.error));
  const userId = reg.data.id;
  const other = "whsec_" + randomBytes(32).toString("base64");

  await t.test("user.created: verified by standardwebhooks and verifyWebhook; another secret and an old timestamp are not", async (t) => {
    const d = await rc.wait("user.created", userId);
    const headers = standardHeaders(d.headers);
    assert.match(headers["webhook-signature"] ?? "", /^v1,[A-Za-z0-9+/]{43}=$/, "one v1 signature");
    const parsed = new Webhook(secret).verify(d.body, headers) as { type: string };
    assert.equal(parsed.type, "user.created");
    const event = verifyWebhook(secret, d.headers, d.body);
    assert.equal(event.type, "user.created");
    assert.equal(event.data.user_id, userId);
    assert.equal(typeof event.data.sequence, "number");
    assert.ok(!Number.isNaN(Date.parse(event.timestamp)), event.timestamp);

    assert.throws(() => new Webhook(other).verify(d.body, headers), WebhookVerificationError);
    assert.throws(() => verifyWebhook(other, d.headers, d.body), WebhookVerificationError);
    assert.throws(() => verifyWebhook(secret, d.headers, Buffer.concat([d.body, Buffer.from(" ")])), WebhookVerificationError);
    // Six minutes on, the same delivery is a replay: refused by its timestamp.
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() + 6 * 60_000 });
    assert.throws(() => new Webhook(secret).verify(d.body, headers), /too old/);
    assert.throws(() => verifyWebhook(secret, d.headers, d.body), WebhookVerificationError);
  });

  await t.test("keel webhooks rotate: a delivery carries two signatures, and the old and the new secret verify it", async () => {
    const rotated = /secret: (whsec_\S+)/.exec(await keelCommand("webhooks", "rotate", id))?.[1];
    assert.ok(rotated && rotated !== secret);
    const login = await keel.POST("/login", { body: { email, password } });
    assert.ok(login.data, JSON.stringify(login.error));
    const d = await rc.wait("session.created", userId);
    const headers = standardHeaders(d.headers);
    assert.equal(headers["webhook-signature"]?.split(" ").length, 2, headers["webhook-signature"]);
    for (const s of [secret, rotated]) {
      assert.equal((new Webhook(s).verify(d.body, headers) as { type: string }).type, "session.created");
      assert.equal(verifyWebhook(s, d.headers, d.body).type, "session.created");
    }
    assert.throws(() => verifyWebhook(other, d.headers, d.body), WebhookVerificationError);
  });
});
