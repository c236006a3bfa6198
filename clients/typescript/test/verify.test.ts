// verifyAccessToken against a stand-in for keel: a local HTTP server with a discovery document and a
// key set made here (jose's generateKeyPair and exportJWK), so each refusal is shown with a token that
// differs from a good one in exactly one way. Needs no keel; run by scripts/e2e-node.sh (`make
// e2e-node`) before keel starts, or `npm run test:verify`. e2e.test.ts checks real keel tokens.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { base64url, type CryptoKey, errors, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

import { verifyAccessToken } from "../src/client.js";

type Alg = "EdDSA" | "ES256" | "RS256";

interface Key {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  jwk: JWK; // public members, as keel publishes them
}

async function newKey(alg: Alg): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  const kid = randomBytes(8).toString("hex");
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** keel, as far as a verifier sees it: GET /.well-known/openid-configuration and /.well-known/jwks.json. */
async function stubKeel(keys: Key[], discovery?: (issuer: string) => object) {
  const stub = { issuer: "", keys, jwksFetches: 0 };
  const server = createServer((req, res) => {
    if (req.url === "/.well-known/openid-configuration") {
      const doc = discovery?.(stub.issuer) ?? { issuer: stub.issuer, jwks_uri: `${stub.issuer}/.well-known/jwks.json` };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
    } else if (req.url === "/.well-known/jwks.json") {
      stub.jwksFetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: stub.keys.map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { stub, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A token as keel mints it, signed by key, with claims and header members replaced by the overrides. */
function mint(key: Key, issuer: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: "keel", sub: "42", sid: "s-1", iat: now, exp: now + 900, aal: "aal1", amr: ["pwd"], lvl: 1, ...claims })
    .setProtectedHeader({ alg: key.alg, typ: "at+jwt", kid: key.kid, ...header })
    .sign(key.privateKey);
}

/** A JWS made by hand (jose will not sign with `none`, nor HMAC with a public key). */
function forge(header: object, claims: object, sign: (input: string) => string) {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  const input = `${enc(header)}.${enc(claims)}`;
  return `${input}.${sign(input)}`;
}

function claimFailed(claim: string) {
  return (err: unknown) => err instanceof errors.JWTClaimValidationFailed && err.claim === claim;
}

test("verifyAccessToken: a good token of each algorithm → its claims", async () => {
  const keys = await Promise.all((["EdDSA", "ES256", "RS256"] as const).map(newKey));
  const { stub, close } = await stubKeel(keys);
  try {
    const verify = verifyAccessToken(`${stub.issuer}/`); // a trailing slash is not part of the issuer
    for (const key of keys) {
      const claims = await verify(await mint(key, stub.issuer));
      assert.equal(claims.sub, "42", key.alg);
      assert.equal(claims.sid, "s-1");
      assert.equal(claims.aal, "aal1");
      assert.deepEqual(claims.amr, ["pwd"]);
      assert.equal(claims.iss, stub.issuer);
      assert.equal(claims.aud, "keel");
    }
    assert.equal(stub.jwksFetches, 1, "the key set is fetched once for all of them");
  } finally {
    await close();
  }
});

test("verifyAccessToken: a token's roles and app_metadata claims", async () => {
  const key = await newKey("EdDSA");
  const { stub, close } = await stubKeel([key]);
  try {
    const verify = verifyAccessToken(stub.issuer);
    const claims = await verify(await mint(key, stub.issuer, { roles: ["editor"], tenant: "acme" }));
    assert.deepEqual(claims.roles, ["editor"]);
    assert.equal(claims.tenant, "acme");
    assert.equal((await verify(await mint(key, stub.issuer))).roles, undefined);
  } finally {
    await close();
  }
});

test("verifyAccessToken refuses a token that is not keel's access token", async (t) => {
  const [ed, es] = await Promise.all([newKey("EdDSA"), newKey("ES256")]);
  const { stub, close } = await stubKeel([ed, es]);
  t.after(close);
  const verify = verifyAccessToken(stub.issuer);
  const now = Math.floor(Date.now() / 1000);

  // The good token, so each refusal below is for its one difference.
  await verify(await mint(ed, stub.issuer));

  await t.test("typ other than at+jwt, or none", async () => {
    await assert.rejects(verify(await mint(ed, stub.issuer, {}, { typ: "JWT" })), claimFailed("typ"));
    await assert.rejects(verify(await mint(ed, stub.issuer, {}, { typ: "id_token+jwt" })), claimFailed("typ"));
    await assert.rejects(verify(await mint(ed, stub.issuer, {}, { typ: undefined })), claimFailed("typ"));
  });

  await t.test("aud other than the audience", async () => {
    await assert.rejects(verify(await mint(ed, stub.issuer, { aud: "other" })), claimFailed("aud"));
    await assert.rejects(verify(await mint(ed, stub.issuer, { aud: undefined })), claimFailed("aud"));
    // …and the audience option names keel's JWT_AUDIENCE when it is not the default.
    const other = verifyAccessToken(stub.issuer, { audience: "other" });
    assert.equal((await other(await mint(ed, stub.issuer, { aud: "other" }))).aud, "other");
    await assert.rejects(other(await mint(ed, stub.issuer)), claimFailed("aud"));
  });

  await t.test("iss other than the issuer", async () => {
    await assert.rejects(verify(await mint(ed, stub.issuer, { iss: "keel" })), claimFailed("iss"));
    await assert.rejects(verify(await mint(ed, stub.issuer, { iss: `${stub.issuer}/` })), claimFailed("iss"));
  });

  await t.test("expired, or without sid", async () => {
    await assert.rejects(verify(await mint(ed, stub.issuer, { iat: now - 100, exp: now - 10 })), errors.JWTExpired);
    await assert.rejects(verify(await mint(ed, stub.issuer, { sid: undefined })), claimFailed("sid"));
    // clockTolerance passes through: 10 s late is within 30 s.
    const lenient = verifyAccessToken(stub.issuer, { clockTolerance: 30 });
    assert.equal((await lenient(await mint(ed, stub.issuer, { iat: now - 100, exp: now - 10 }))).sub, "42");
  });

  await t.test("HS256 keyed with a published public key (algorithm confusion), and alg none", async () => {
    const claims = { iss: stub.issuer, aud: "keel", sub: "42", sid: "s-1", iat: now, exp: now + 900, aal: "aal2", amr: ["mfa"] };
    const { createHmac } = await import("node:crypto");
    for (const secret of [JSON.stringify(ed.jwk), ed.jwk.x ?? "", Buffer.from(ed.jwk.x ?? "", "base64url")]) {
      const hs = forge({ alg: "HS256", typ: "at+jwt", kid: ed.kid }, claims, (input) => createHmac("sha256", secret).update(input).digest("base64url"));
      await assert.rejects(verify(hs), errors.JOSEAlgNotAllowed);
    }
    const none = forge({ alg: "none", typ: "at+jwt", kid: ed.kid }, claims, () => "");
    await assert.rejects(verify(none), (err) => err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JWSInvalid);
  });

  await t.test("an alg other than its key's", async () => {
    // Signed by a real ES256 key, but naming the EdDSA key: no published key is ES256 with that kid.
    const mixed = await mint(es, stub.issuer, {}, { kid: ed.kid });
    await assert.rejects(verify(mixed), errors.JWKSNoMatchingKey);
  });

  await t.test("an unknown kid, or a key keel never published", async () => {
    const stranger = await newKey("EdDSA");
    await assert.rejects(verify(await mint(stranger, stub.issuer)), errors.JWKSNoMatchingKey);
    await assert.rejects(verify(await mint(stranger, stub.issuer, {}, { kid: ed.kid })), errors.JWSSignatureVerificationFailed);
  });
});

test("verifyAccessToken trusts only the issuer's own discovery document", async () => {
  const key = await newKey("EdDSA");
  const { stub, close } = await stubKeel([key], () => ({ issuer: "https://elsewhere.example", jwks_uri: `${stub.issuer}/.well-known/jwks.json` }));
  try {
    const verify = verifyAccessToken(stub.issuer);
    await assert.rejects(verify(await mint(key, stub.issuer)), /discovery document's issuer/);
    assert.equal(stub.jwksFetches, 0);
  } finally {
    await close();
  }
});

test("verifyAccessToken across a rotation: a new kid is fetched, after the cooldown, once", async () => {
  const [a, b] = await Promise.all([newKey("EdDSA"), newKey("EdDSA")]);
  const { stub, close } = await stubKeel([a]);
  try {
    const verify = verifyAccessToken(stub.issuer, { cooldownDuration: 1000 });
    await verify(await mint(a, stub.issuer));
    assert.equal(stub.jwksFetches, 1);

    stub.keys = [b, a]; // keel rotated: b signs, a is retired but still published
    const tokenB = await mint(b, stub.issuer);
    // Within the cooldown an unknown kid is refused without a fetch (made-up kids cannot flood keel)…
    await assert.rejects(verify(tokenB), errors.JWKSNoMatchingKey);
    assert.equal(stub.jwksFetches, 1);
    // …after it, the set is fetched again and the new key found; the retired key's tokens still verify.
    await sleep(1050);
    assert.equal((await verify(tokenB)).sub, "42");
    assert.equal((await verify(await mint(a, stub.issuer))).sub, "42");
    assert.equal(stub.jwksFetches, 2);
  } finally {
    await close();
  }
});

test("verifyAccessToken after a revocation: the removed key is refused once cacheMaxAge has passed", async () => {
  const [a, b] = await Promise.all([newKey("ES256"), newKey("ES256")]);
  const { stub, close } = await stubKeel([a, b]);
  try {
    const verify = verifyAccessToken(stub.issuer, { cacheMaxAge: 1000 });
    const tokenA = await mint(a, stub.issuer);
    await verify(tokenA);

    stub.keys = [b]; // keel revoked a
    // The cached set still holds it: this is the window cacheMaxAge sets.
    assert.equal((await verify(tokenA)).sub, "42");
    assert.equal(stub.jwksFetches, 1);
    await sleep(1050);
    await assert.rejects(verify(tokenA), errors.JWKSNoMatchingKey);
    assert.equal(stub.jwksFetches, 2);
    assert.equal((await verify(await mint(b, stub.issuer))).sub, "42");
  } finally {
    await close();
  }
});
