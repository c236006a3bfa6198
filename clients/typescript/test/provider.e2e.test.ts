// End to end: openid-client 6 (panva's certified relying party library) signs in with keel as an
// OpenID Provider, from the issuer URL alone: discovery, an authorization URL with PKCE (S256), the
// login step driven through keel's API as a login page would (POST /login, GET /oauth2/requests/{id},
// accept, then the browser's way through redirect_to to the callback), the code exchange with the ID
// token's checks, userinfo, a refresh (rotating), and revocation. Run by scripts/e2e-node.sh
// (`make e2e-node`): keel on http://127.0.0.1 (hence allowInsecureRequests), KEEL_CLI registers the
// client with `keel clients create`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { promisify } from "node:util";

import * as oidc from "openid-client";

import { createKeelClient } from "../src/client.js";
import { mailedToken } from "./mail.js";

const baseUrl = (process.env.KEEL_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const cli = process.env.KEEL_CLI;
// A native client's loopback redirect matches on any port (RFC 8252 §7.3); nothing listens there:
// the test reads the code from keel's redirect instead of following it.
const redirectUri = "http://127.0.0.1:49152/callback";

async function createClient(): Promise<{ id: string; secret: string }> {
  assert.ok(cli, "KEEL_CLI runs keel's commands (scripts/e2e-node.sh sets it)");
  const { stdout } = await promisify(execFile)(cli, ["clients", "create", "--name", "openid-client e2e", "--native",
    "--redirect-uri", "http://127.0.0.1/callback"]);
  const id = /^client_id: +(\S+)$/m.exec(stdout)?.[1];
  const secret = /^client_secret: +(\S+)$/m.exec(stdout)?.[1];
  assert.ok(id && secret, `keel clients create printed:\n${stdout}`);
  return { id, secret };
}

/** location follows nothing: it returns where a 302 sends the browser. */
async function location(url: string | URL): Promise<URL> {
  const res = await fetch(url, { redirect: "manual" });
  assert.equal(res.status, 302, `GET ${url}: ${res.status} ${await res.text()}`);
  const to = res.headers.get("location");
  assert.ok(to, `GET ${url}: no Location`);
  return new URL(to, url);
}

test("openid-client 6 completes the code flow with PKCE against keel", async (t) => {
  const { id: clientId, secret } = await createClient();
  const keel = createKeelClient({ baseUrl });
  const email = `rp-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const reg = await keel.POST("/register", { body: { email, password } });
  assert.equal(reg.response.status, 201, JSON.stringify(reg.error));
  const first = await keel.POST("/login", { body: { email, password } });
  assert.ok(first.data, JSON.stringify(first.error));
  // A proved address, so the ID token's email_verified is true.
  const proved = await keel.POST("/email/verify", {
    body: { token: await mailedToken(email) },
    headers: { Authorization: `Bearer ${first.data.token}` },
  });
  assert.equal(proved.response.status, 204, JSON.stringify(proved.error));

  const config = await oidc.discovery(new URL(baseUrl), clientId, secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  await t.test("discovery names keel's endpoints", () => {
    const m = config.serverMetadata();
    assert.equal(m.issuer, baseUrl);
    assert.equal(m.authorization_endpoint, `${baseUrl}/oauth2/authorize`);
    assert.equal(m.token_endpoint, `${baseUrl}/oauth2/token`);
    assert.deepEqual(m.code_challenge_methods_supported, ["S256"]);
    assert.ok(m.id_token_signing_alg_values_supported?.includes("RS256"));
  });

  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizeUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid email offline_access",
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });

  // The login step, as a login page does it through keel's API.
  const loginPage = await location(authorizeUrl);
  assert.equal(loginPage.pathname, "/oauth2/login", "OP_LOGIN_URL's default: keel's own page");
  const requestId = loginPage.searchParams.get("request_id");
  assert.ok(requestId);
  const asked = await keel.GET("/oauth2/requests/{id}", { params: { path: { id: requestId } } });
  assert.ok(asked.data, JSON.stringify(asked.error));
  assert.equal(asked.data.client.id, clientId);
  assert.equal(asked.data.client.name, "openid-client e2e");
  assert.deepEqual(asked.data.scopes, ["openid", "email", "offline_access"]);
  const login = await keel.POST("/login", { body: { email, password } });
  assert.ok(login.data, JSON.stringify(login.error));
  const accepted = await keel.POST("/oauth2/requests/{id}/accept", {
    params: { path: { id: requestId } },
    headers: { Authorization: `Bearer ${login.data.token}` },
  });
  assert.ok(accepted.data, JSON.stringify(accepted.error));
  const callback = await location(accepted.data.redirect_to);
  assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);

  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.ok(claims, "an ID token");
  await t.test("the ID token: who, how, for whom", () => {
    assert.equal(claims.iss, baseUrl);
    assert.deepEqual([claims.aud].flat(), [clientId], "aud: the client alone");
    assert.equal(claims.sub, String(reg.data?.id));
    assert.equal(claims.nonce, nonce);
    assert.equal(claims.acr, "aal1");
    assert.deepEqual(claims.amr, ["pwd"]);
    assert.equal(claims.email, email);
    assert.equal(claims.email_verified, true);
    assert.equal(typeof claims.sid, "string");
    assert.equal(typeof claims.auth_time, "number");
    assert.ok(tokens.refresh_token, "offline_access gives a refresh token");
  });

  await t.test("userinfo answers for the grant's user", async () => {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.email, email);
  });

  await t.test("keel's own API refuses the client's access token", async () => {
    const res = await keel.GET("/profile", { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.response.status, 401);
  });

  await t.test("a refresh rotates the refresh token; revoking it ends the grant", async () => {
    const next = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? "");
    assert.ok(next.refresh_token);
    assert.notEqual(next.refresh_token, tokens.refresh_token);
    assert.notEqual(next.access_token, tokens.access_token);
    const info = await oidc.fetchUserInfo(config, next.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);

    await oidc.tokenRevocation(config, next.refresh_token ?? "");
    await assert.rejects(oidc.refreshTokenGrant(config, next.refresh_token ?? ""), (e: unknown) => {
      assert.ok(e instanceof oidc.ResponseBodyError, String(e));
      assert.equal(e.error, "invalid_grant");
      return true;
    });
    await assert.rejects(oidc.fetchUserInfo(config, next.access_token, claims.sub));
  });
});
