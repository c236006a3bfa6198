// verifyWebhook (npm standardwebhooks underneath) against the Standard Webhooks libraries' published
// test vectors and deliveries signed here by the spec's algorithm (node:crypto, not the library), each
// refusal differing from a good delivery in one way. The clock is node:test's mocked Date, since the
// library reads Date.now(). Needs no keel: run by scripts/e2e-node.sh (`make e2e-node`) before keel
// starts, or `npm run test:webhooks`; webhooks.e2e.test.ts checks keel's own deliveries.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test, type TestContext } from "node:test";

import { verifyWebhook, WebhookVerificationError } from "../src/client.js";

/** "v1," + base64(HMAC-SHA256(base64decode(secret without whsec_), id.timestamp.body)): the spec. */
function sign(secret: string, id: string, ts: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return "v1," + createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
}

/** Freezes Date at unix second `now` for the rest of the test. */
function clockAt(t: TestContext, now: number) {
  t.mock.timers.enable({ apis: ["Date"], now: now * 1000 });
}

const vectors = [
  // libraries/{go,python,javascript,...}: test_sign
  {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    ts: 1614265330,
    body: '{"test": 2432232314}',
    sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  },
  // libraries/rust: test_sign
  {
    secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    ts: 1649367553,
    body: '{"email":"test@example.com","username":"test_user"}',
    sig: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
  },
];

test("the spec's vectors: the test's signer agrees, and a body that is not an event is refused", async (t) => {
  for (const v of vectors) {
    assert.equal(sign(v.secret, v.id, v.ts, v.body), v.sig);
    clockAt(t, v.ts + 60);
    const headers = { "webhook-id": v.id, "webhook-timestamp": String(v.ts), "webhook-signature": v.sig };
    // The signature holds, but these bodies have no `type`: not keel events.
    assert.throws(() => verifyWebhook(v.secret, headers, v.body), /not an event/);
    assert.throws(() => verifyWebhook(v.secret, { ...headers, "webhook-id": v.id + "x" }, v.body), WebhookVerificationError);
    t.mock.timers.reset();
  }
});

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const rotated = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const other = "whsec_dGhpcyBpcyBub3QgdGhlIGVuZHBvaW50J3Mgc2VjcmV0";
const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const sent = Date.UTC(2026, 11, 7, 6, 0, 0) / 1000;
const body = '{"type":"user.created","timestamp":"2026-12-07T06:00:00Z","data":{"user_id":"1","sequence":1}}';

function headersFor(sig: string, ts = sent, msgId = id) {
  return { "webhook-id": msgId, "webhook-timestamp": String(ts), "webhook-signature": sig };
}

test("a delivery verifies and its event is returned, whatever shape the headers come in", (t) => {
  clockAt(t, sent);
  const h = headersFor(sign(secret, id, sent, body));
  const want = JSON.parse(body);
  assert.deepEqual(verifyWebhook(secret, h, body), want);
  assert.deepEqual(verifyWebhook(secret, h, new TextEncoder().encode(body)), want, "bytes");
  assert.deepEqual(verifyWebhook(secret, h, Buffer.from(body)), want, "a Buffer");
  assert.deepEqual(verifyWebhook(secret, new Headers(h), body), want, "fetch Headers");
  const nodeStyle = { "Webhook-Id": [id], "WEBHOOK-TIMESTAMP": String(sent), "webhook-signature": h["webhook-signature"], host: undefined };
  assert.deepEqual(verifyWebhook(secret, nodeStyle, body), want, "mixed case, arrays, undefined");
  const event = verifyWebhook(secret, h, body);
  assert.equal(event.type, "user.created");
  assert.equal(event.data.sequence, 1);
});

test("during a rotation, both secrets verify (two signatures); a third does not", (t) => {
  clockAt(t, sent);
  const both = headersFor(`${sign(secret, id, sent, body)} ${sign(rotated, id, sent, body)}`);
  assert.equal(verifyWebhook(secret, both, body).type, "user.created");
  assert.equal(verifyWebhook(rotated, both, body).type, "user.created");
  assert.throws(() => verifyWebhook(other, both, body), WebhookVerificationError);
});

test("refusals: wrong secret, changed body, id or timestamp, a timestamp out of the 5-minute tolerance, headers missing", async (t) => {
  const good = sign(secret, id, sent, body);
  const cases: { name: string; secret?: string; headers: Record<string, string>; body?: string; at?: number }[] = [
    { name: "wrong secret", secret: other, headers: headersFor(good) },
    { name: "changed body", headers: headersFor(good), body: body.replace('"1"', '"2"') },
    { name: "body re-serialized", headers: headersFor(good), body: JSON.stringify(JSON.parse(body), null, 1) },
    { name: "another id", headers: headersFor(good, sent, "msg_other") },
    { name: "timestamp changed", headers: headersFor(good, sent + 60) },
    { name: "old: 5m1s late", headers: headersFor(good), at: sent + 301 },
    { name: "old: a day late", headers: headersFor(good), at: sent + 86400 },
    { name: "future: 5m1s ahead", headers: headersFor(good), at: sent - 301 },
    { name: "v1a scheme", headers: headersFor(good.replace("v1,", "v1a,")) },
    { name: "v1, alone", headers: headersFor("v1,") },
    { name: "no webhook-id", headers: { "webhook-timestamp": String(sent), "webhook-signature": good } },
    { name: "no webhook-timestamp", headers: { "webhook-id": id, "webhook-signature": good } },
    { name: "no webhook-signature", headers: { "webhook-id": id, "webhook-timestamp": String(sent) } },
  ];
  for (const c of cases) {
    await t.test(c.name, (t) => {
      clockAt(t, c.at ?? sent);
      assert.throws(() => verifyWebhook(c.secret ?? secret, c.headers, c.body ?? body), WebhookVerificationError);
    });
  }
  await t.test("within the tolerance: 4m59s late and ahead", (t) => {
    clockAt(t, sent + 299);
    assert.equal(verifyWebhook(secret, headersFor(good), body).type, "user.created");
    t.mock.timers.reset();
    clockAt(t, sent - 299);
    assert.equal(verifyWebhook(secret, headersFor(good), body).type, "user.created");
  });
});
