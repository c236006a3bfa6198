// End to end: keel's own access tokens checked by verifyAccessToken (jose's remote key set) with the
// issuer URL alone, across `keel keys rotate` and `keel keys revoke`. Run by scripts/e2e-node.sh
// (`make e2e-node`), which starts keel with API_URL=KEEL_URL and JWKS_MAX_AGE=2s and names in
// KEEL_CLI a script that runs keel's commands on the server's database. It runs after the other
// client tests because revoking the current key refuses every token it signed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

import { decodeProtectedHeader, errors } from "jose";

import { createKeelClient, type Token, verifyAccessToken } from "../src/client.js";

const baseUrl = (process.env.KEEL_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const cli = process.env.KEEL_CLI;
const jwksMaxAge = 2000; // JWKS_MAX_AGE in scripts/e2e-node.sh
// keel's own bounds ("within a second", "after JWKS_MAX_AGE and two seconds") are held by its Go tests;
// here they get room, so that a loaded CI machine does not fail what is a client's test.
const slack = 2000;

async function keelCommand(...args: string[]): Promise<string> {
  assert.ok(cli, "KEEL_CLI runs keel's commands (scripts/e2e-node.sh sets it)");
  return (await promisify(execFile)(cli, args)).stdout;
}

/** until calls f every 100 ms until it returns something other than undefined, or fails after ms. */
async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

// publishedKids are the published access-token keys (EdDSA): the set also holds the OpenID
// Provider's RS256 keys, which sign ID tokens and clients' tokens, never keel's own access tokens.
async function publishedKids(): Promise<string[]> {
  const res = await fetch(`${baseUrl}/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { keys: { kid: string; alg: string }[] }).keys
    .filter((k) => k.alg === "EdDSA")
    .map((k) => k.kid);
}

const kid = (token: string) => decodeProtectedHeader(token).kid;

test("verifyAccessToken checks keel's tokens from its issuer URL, across a rotation and a revocation", async (t) => {
  const keel = createKeelClient({ baseUrl });
  const email = `keys-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const reg = await keel.POST("/register", { body: { email, password } });
  assert.equal(reg.response.status, 201, JSON.stringify(reg.error));
  const login = await keel.POST("/login", { body: { email, password } });
  assert.ok(login.data, JSON.stringify(login.error));
  let pair: Token = login.data;
  const first = pair.token; // signed by the key that is current now

  // A refresh: the session's next pair (keel rotates refresh tokens), so no new session is needed.
  async function refresh(): Promise<string> {
    const res = await keel.POST("/token/refresh", { body: { refresh_token: pair.refresh_token } });
    assert.ok(res.data, `refresh: ${res.response.status} ${JSON.stringify(res.error)}`);
    pair = res.data;
    return pair.token;
  }
  const profileStatus = async (token: string) =>
    (await keel.GET("/profile", { headers: { Authorization: `Bearer ${token}` } })).response.status;

  // cacheMaxAge no longer than keel's JWKS_MAX_AGE: such a verifier holds a next key before it signs.
  const verify = verifyAccessToken(baseUrl, { cacheMaxAge: 1000 });
  const kid1 = kid(first) ?? "";

  await t.test("a token keel signed: EdDSA, at+jwt, kid; the claims", async () => {
    const header = decodeProtectedHeader(first);
    assert.equal(header.alg, "EdDSA", "a new install signs with Ed25519");
    assert.equal(header.typ, "at+jwt");
    assert.ok(kid1, "a kid names the key");
    const claims = await verify(first);
    assert.equal(claims.sub, String(reg.data?.id));
    assert.equal(claims.iss, baseUrl);
    assert.equal(claims.aud, "keel");
    assert.equal(typeof claims.sid, "string");
    assert.equal(claims.aal, "aal1");
    assert.deepEqual(claims.amr, ["pwd"]);
    assert.ok(claims.exp > claims.iat);
    // Another audience is refused: the verifier is the resource server's, not any token's.
    await assert.rejects(verifyAccessToken(baseUrl, { audience: "elsewhere" })(first), errors.JWTClaimValidationFailed);
  });

  await t.test("the discovery document and the key set keel publishes", async () => {
    const disc = await fetch(`${baseUrl}/.well-known/openid-configuration`);
    assert.equal(disc.status, 200);
    const doc = (await disc.json()) as { issuer: string; jwks_uri: string };
    assert.equal(doc.issuer, baseUrl);
    assert.equal(doc.jwks_uri, `${baseUrl}/.well-known/jwks.json`);
    const res = await fetch(doc.jwks_uri);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("cache-control") ?? "", /\bmax-age=2\b/);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    const key = keys.find((k) => k.kid === kid1);
    assert.ok(key, `${kid1} is published`);
    assert.deepEqual([key.kty, key.crv, key.alg, key.use], ["OKP", "Ed25519", "EdDSA", "sig"]);
    for (const k of keys) assert.equal(k.d, undefined, "public members only");
  });

  if (!cli) {
    t.skip("KEEL_CLI is not set: rotation and revocation need keel's commands (make e2e-node)");
    return;
  }

  let kid2 = "";
  let second = "";
  await t.test("keel keys rotate: the next key is published first, signs after JWKS_MAX_AGE", async () => {
    const rotated = Date.now();
    await keelCommand("keys", "rotate");
    kid2 = await until("the next key is published", 1000 + slack, async () => (await publishedKids()).find((k) => k !== kid1));
    if (Date.now() - rotated < jwksMaxAge / 2) {
      assert.equal(kid(await refresh()), kid1, "the next key does not sign before it has been published for JWKS_MAX_AGE");
    }
    second = await until("a token signed by the next key", jwksMaxAge + 2000 + slack, async () => {
      const token = await refresh();
      return kid(token) === kid2 ? token : undefined;
    });
    assert.ok(Date.now() - rotated >= jwksMaxAge / 2, "the next key signed before JWKS_MAX_AGE");

    assert.equal((await verify(second)).sub, String(reg.data?.id));
    // Tokens signed before keep working: the retired key is still published and accepted.
    assert.equal((await verify(first)).sub, String(reg.data?.id));
    assert.equal(await profileStatus(first), 200);
    assert.ok((await publishedKids()).includes(kid1));
    const list = await keelCommand("keys", "list");
    assert.match(list, new RegExp(`^${kid1}\\s+EdDSA\\s+retired\\b`, "m"), list);
    assert.match(list, new RegExp(`^${kid2}\\s+EdDSA\\s+current\\b`, "m"), list);
  });

  await t.test("keel keys revoke: keel refuses at once, a verifier once its cacheMaxAge has passed", async () => {
    assert.ok(second, "the rotation gave a token of the second key");
    await verify(second); // the verifier's cached set holds kid2
    await keelCommand("keys", "revoke", kid2);
    await until("keel refuses the revoked key's token", 1000 + slack, async () => ((await profileStatus(second)) === 401 ? true : undefined));
    assert.ok(!(await publishedKids()).includes(kid2), "the revoked key leaves the key set");

    await sleep(1100); // the verifier's cacheMaxAge
    await assert.rejects(verify(second), errors.JWKSNoMatchingKey);

    // No one is signed out: the session refreshes, and a key other than the revoked one signs at once.
    const third = await refresh();
    assert.notEqual(kid(third), kid2);
    assert.equal((await verify(third)).sub, String(reg.data?.id));
    assert.equal(await profileStatus(third), 200);
    // The retired first key was not revoked: its tokens still verify.
    assert.equal((await verify(first)).sub, String(reg.data?.id));
    const list = await keelCommand("keys", "list");
    assert.match(list, new RegExp(`^${kid2}\\s+EdDSA\\s+revoked\\b`, "m"), list);
  });
});
