// End to end: the typed client against a running keel (KEEL_URL, default
// http://127.0.0.1:8080). Run by scripts/e2e-node.sh (`make e2e-node`), which
// starts the server. The @ts-expect-error lines are part of the test: they
// fail `npm run typecheck` if the generated types stop enforcing the spec.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mailedToken } from "./mail.js";
import { test } from "node:test";

import {
  assurance,
  authorizeUrl,
  createKeelClient,
  createKeelSession,
  createPkcePair,
  creationOptions,
  emailUnverifiedType,
  fromBase64url,
  type Identity,
  mfaRequiredType,
  oauthRedirectResult,
  pkceChallenge,
  type Problem,
  type RegisterRequest,
  requestOptions,
  type Session,
  type Token,
  toBase64url,
  type User,
} from "../src/client.js";
import { totp } from "./totp.js";

const baseUrl = process.env.KEEL_URL ?? "http://127.0.0.1:8080";

test("register → login → profile through openapi-fetch", async (t) => {
  let token: string | undefined;
  const keel = createKeelClient({ baseUrl, token: () => token });

  const email = `TS-${randomBytes(6).toString("hex")}@Example.com`;
  const password = "correct horse battery";

  await t.test("GET / is healthy", async () => {
    const { data, error, response } = await keel.GET("/");
    assert.equal(response.status, 200);
    assert.equal(error, undefined);
    assert.deepEqual(data, { status: "ok" });
  });

  let user: User | undefined;
  await t.test("POST /register → 201 User", async () => {
    const { data, error, response } = await keel.POST("/register", { body: { email, password } });
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.ok(data);
    user = data;
    assert.equal(typeof user.id, "number");
    assert.ok(user.id >= 1);
    assert.equal(user.email, email.toLowerCase(), "the email is stored lower-cased");
    assert.ok(!Number.isNaN(Date.parse(user.created_at)), `created_at ${user.created_at} is a date-time`);
    assert.equal(user.email_verified, false, "a new address is not verified yet");
    assert.deepEqual(Object.keys(user).sort(), ["created_at", "email", "email_verified", "id", "user_metadata"], "no password or hash comes back");
    assert.deepEqual(user.user_metadata, {}, "the user's own metadata is empty until they write it");
  });

  await t.test("POST /register again → 409 problem", async () => {
    const { data, error, response } = await keel.POST("/register", { body: { email: email.toLowerCase(), password } });
    assert.equal(data, undefined);
    assert.equal(response.status, 409);
    assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const problem: Problem | undefined = error;
    assert.equal(problem?.status, 409);
    assert.equal(typeof problem?.title, "string");
  });

  await t.test("POST /register with a bad email → 400 naming the field", async () => {
    const { error, response } = await keel.POST("/register", { body: { email: "ada", password } });
    assert.equal(response.status, 400);
    assert.ok(error?.errors?.some((e) => e.field === "/email"), JSON.stringify(error));
  });

  await t.test("unknown fields: refused by the compiler and by the server", async () => {
    // @ts-expect-error RegisterRequest has additionalProperties: false, so the type has no `admin`.
    const body: RegisterRequest = { email: `x${email}`, password, admin: true };
    const { error, response } = await keel.POST("/register", { body });
    assert.equal(response.status, 400);
    assert.equal(error?.status, 400);
  });

  await t.test("GET /profile without a token → 401", async () => {
    const { error, response } = await keel.GET("/profile");
    assert.equal(response.status, 401);
    assert.equal(error?.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
  });

  await t.test("POST /login with a wrong password → 401", async () => {
    const { data, error, response } = await keel.POST("/login", { body: { email, password: "wrong password" } });
    assert.equal(response.status, 401);
    assert.equal(data, undefined);
    assert.equal(error?.status, 401);
  });

  await t.test("POST /login → 200 Token", async () => {
    const { data, error, response } = await keel.POST("/login", { body: { email, password } });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    const tok: Token = data;
    assert.equal(tok.token_type, "Bearer");
    assert.ok(tok.expires_in > 0);
    assert.equal(tok.token.split(".").length, 3, "a JWT has three parts");
    assert.ok(tok.refresh_token.length > 0);
    assert.ok(tok.refresh_expires_in > tok.expires_in);
    assert.deepEqual(Object.keys(tok).sort(), ["expires_in", "refresh_expires_in", "refresh_token", "token", "token_type"]);
    token = tok.token;
  });

  await t.test("GET /profile with the token → 200, the registered user", async () => {
    const { data, error, response } = await keel.GET("/profile");
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.deepEqual(data, user);
  });
});

// registered signs up a fresh account and returns its email and password.
async function registered(prefix: string): Promise<{ email: string; password: string }> {
  const email = `${prefix}-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const { error, response } = await createKeelClient({ baseUrl }).POST("/register", { body: { email, password } });
  assert.equal(response.status, 201, JSON.stringify(error));
  return { email, password };
}

// verifiedByMail proves email's address as its owner would: it reads the
// verification mail from keel's log (mailedToken) and posts its token from the
// account's session. TOTP, passkeys and linked providers need a proved address.
async function verifiedByMail(email: string, session: { client: ReturnType<typeof createKeelClient> }) {
  const token = await mailedToken(email);
  const { error, response } = await session.client.POST("/email/verify", { body: { token } });
  assert.equal(response.status, 204, JSON.stringify(error));
}

// as returns request options that send token as the bearer.
const as = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

test("sessions: login → refresh → logout, GET /sessions, DELETE /sessions/{id}, reuse detection", async (t) => {
  const keel = createKeelClient({ baseUrl });
  const { email, password } = await registered("ts-session");

  const login = async (userAgent: string): Promise<Token> => {
    const { data, error, response } = await keel.POST("/login", {
      body: { email, password },
      headers: { "User-Agent": userAgent },
    });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    return data;
  };
  const profileStatus = async (token: string) => (await keel.GET("/profile", as(token))).response.status;
  const refresh = (refreshToken: string) => keel.POST("/token/refresh", { body: { refresh_token: refreshToken } });
  const sessions = async (token: string): Promise<Session[]> => {
    const { data, error, response } = await keel.GET("/sessions", as(token));
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    return data;
  };

  // Session A: the one that refreshes; B: the one that logs out; C: ended from A.
  const a1 = await login("e2e-a");
  let a2: Token | undefined;

  await t.test("POST /token/refresh → 200, a new pair; the new access token works", async () => {
    const { data, error, response } = await refresh(a1.refresh_token);
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.token_type, "Bearer");
    assert.ok(data.expires_in > 0 && data.refresh_expires_in > 0);
    assert.notEqual(data.refresh_token, a1.refresh_token, "refresh tokens rotate");
    a2 = data;
    assert.equal(await profileStatus(a2.token), 200);
  });

  await t.test("GET /sessions → 200: the caller's session, marked current", async () => {
    assert.ok(a2);
    const list = await sessions(a2.token);
    assert.equal(list.length, 1, JSON.stringify(list));
    const [s] = list;
    assert.ok(s);
    assert.equal(s.current, true);
    assert.equal(s.user_agent, "e2e-a");
    assert.ok(s.id.length > 0);
    assert.ok(!Number.isNaN(Date.parse(s.created_at)) && !Number.isNaN(Date.parse(s.last_used_at)));
    assert.ok(Date.parse(s.last_used_at) >= Date.parse(s.created_at));
    assert.deepEqual(Object.keys(s).sort(), ["aal", "created_at", "current", "id", "last_used_at", "user_agent"]);
    assert.equal(s.aal, "aal1", "a password login without a second factor");
  });

  await t.test("POST /logout → 204; that session's access and refresh tokens then get 401", async () => {
    assert.ok(a2);
    const b = await login("e2e-b");
    assert.equal(await profileStatus(b.token), 200);
    const list = await sessions(b.token);
    assert.equal(list.length, 2, JSON.stringify(list));
    assert.deepEqual(list.map((s) => [s.user_agent, s.current]).sort(), [["e2e-a", false], ["e2e-b", true]]);

    const { error, response } = await keel.POST("/logout", as(b.token));
    assert.equal(response.status, 204, JSON.stringify(error));

    const after = await keel.GET("/profile", as(b.token));
    assert.equal(after.response.status, 401, "an ended session's access token is refused at once");
    assert.equal(after.error?.status, 401);
    assert.match(after.response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.equal((await refresh(b.refresh_token)).response.status, 401, "and so is its refresh token");
    assert.equal((await keel.POST("/logout", as(b.token))).response.status, 401, "logging out twice");

    // The other session is untouched.
    assert.equal(await profileStatus(a2.token), 200);
    assert.deepEqual((await sessions(a2.token)).map((s) => s.user_agent), ["e2e-a"]);
  });

  await t.test("DELETE /sessions/{id} → 204 ends another session; an unknown id → 404", async () => {
    assert.ok(a2);
    const c = await login("e2e-c");
    const other = (await sessions(a2.token)).find((s) => s.user_agent === "e2e-c");
    assert.ok(other);
    const del = await keel.DELETE("/sessions/{id}", { params: { path: { id: other.id } }, ...as(a2.token) });
    assert.equal(del.response.status, 204, JSON.stringify(del.error));
    assert.equal(await profileStatus(c.token), 401);
    assert.equal((await refresh(c.refresh_token)).response.status, 401);
    const again = await keel.DELETE("/sessions/{id}", { params: { path: { id: other.id } }, ...as(a2.token) });
    assert.equal(again.response.status, 404);
    assert.equal(again.error?.status, 404);
  });

  await t.test("the spent refresh token → 401, and the whole session ends (reuse detection)", async () => {
    assert.ok(a2);
    const reuse = await refresh(a1.refresh_token);
    assert.equal(reuse.response.status, 401);
    assert.equal(reuse.data, undefined);
    assert.equal(reuse.error?.status, 401);
    assert.equal(await profileStatus(a2.token), 401, "the access token of the newer pair is refused too");
    assert.equal((await refresh(a2.refresh_token)).response.status, 401, "and the refresh token that replaced it");
    // A new login still works.
    const fresh = await login("e2e-d");
    assert.equal(await profileStatus(fresh.token), 200);
    assert.equal((await keel.POST("/logout", as(fresh.token))).response.status, 204);
  });

  await t.test("POST /token/refresh with garbage → 401, with no body field → 400", async () => {
    assert.equal((await refresh("not-a-refresh-token")).response.status, 401);
    // @ts-expect-error RefreshRequest requires refresh_token.
    const { response } = await keel.POST("/token/refresh", { body: {} });
    assert.equal(response.status, 400);
  });
});

test("createKeelSession keeps the pair, refreshes ahead of expiry, serialises refreshes, logs out", async (t) => {
  const { email, password } = await registered("ts-helper");
  let clock = Date.now();
  const seen: (Token | undefined)[] = [];
  const session = createKeelSession({ baseUrl, now: () => clock, onTokens: (tok) => seen.push(tok) });
  const raw = createKeelClient({ baseUrl });

  await t.test("login keeps the pair; the client sends its access token", async () => {
    assert.equal(session.tokens, undefined);
    const { data, response } = await session.login({ email, password });
    assert.equal(response.status, 200);
    assert.deepEqual(session.tokens, data);
    assert.equal(seen.length, 1);
    const me = await session.client.GET("/profile");
    assert.equal(me.response.status, 200, JSON.stringify(me.error));
    assert.equal(me.data?.email, email);
  });

  await t.test("a request near the access token's expiry refreshes first", async () => {
    const before = session.tokens;
    assert.ok(before);
    clock += (before.expires_in - 10) * 1000; // within the default 30 s leeway
    const list = await session.client.GET("/sessions");
    assert.equal(list.response.status, 200, JSON.stringify(list.error));
    assert.equal(list.data?.length, 1);
    assert.ok(session.tokens);
    assert.notEqual(session.tokens.refresh_token, before.refresh_token, "the pair was rotated");
    assert.equal(seen.length, 2);
    // The old refresh token is spent: not used again by the helper (that would end the session).
    assert.equal((await session.client.GET("/profile")).response.status, 200);
  });

  await t.test("overlapping refresh() calls share one request, so reuse detection never fires", async () => {
    const before = session.tokens;
    assert.ok(before);
    const [r1, r2, r3] = await Promise.all([session.refresh(), session.refresh(), session.refresh()]);
    assert.equal(r1.response.status, 200);
    assert.equal(r1, r2);
    assert.equal(r2, r3);
    assert.equal(seen.length, 3);
    assert.notEqual(session.tokens?.refresh_token, before.refresh_token);
    assert.equal((await session.client.GET("/profile")).response.status, 200, "the session lives");
  });

  await t.test("logout → 204 drops the pair; the last access token gets 401", async () => {
    const last = session.tokens;
    assert.ok(last);
    const { response } = await session.logout();
    assert.equal(response.status, 204);
    assert.equal(session.tokens, undefined);
    assert.equal(seen.at(-1), undefined);
    assert.equal((await raw.GET("/profile", as(last.token))).response.status, 401);
    assert.equal((await raw.POST("/token/refresh", { body: { refresh_token: last.refresh_token } })).response.status, 401);
    assert.equal((await session.client.GET("/profile")).response.status, 401, "signed out: no token is sent");
    assert.throws(() => session.refresh(), /log in first/);
  });

  await t.test("a refresh the server refuses drops the pair", async () => {
    await session.login({ email, password });
    const first = session.tokens;
    assert.ok(first);
    // Another holder of the same refresh token rotates it; the helper's copy is then spent.
    assert.equal((await raw.POST("/token/refresh", { body: { refresh_token: first.refresh_token } })).response.status, 200);
    const res = await session.refresh();
    assert.equal(res.response.status, 401);
    assert.equal(session.tokens, undefined);
  });
});

// The spec's patterns for a PKCE verifier (OAuthTokenRequest.code_verifier) and challenge (CodeChallenge).
const verifierPattern = /^[A-Za-z0-9._~-]{43,128}$/;
const challengePattern = /^[A-Za-z0-9_-]{43}$/;

// keel here has no OIDC_PROVIDERS: these check the app's half and every answer that needs no provider.
test("sign-in with a provider: PKCE pair, authorize URL, code exchange, identities", async (t) => {
  const problemJSON = (res: Response) => assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);

  await t.test("createPkcePair: a 43-character base64url verifier and its S256 challenge", async () => {
    const { verifier, challenge } = await createPkcePair();
    assert.equal(verifier.length, 43);
    assert.match(verifier, /^[A-Za-z0-9_-]{43}$/, "base64url without padding");
    assert.match(verifier, verifierPattern);
    assert.match(challenge, challengePattern);
    assert.equal(challenge, createHash("sha256").update(verifier).digest("base64url"));
    const other = await createPkcePair();
    assert.notEqual(other.verifier, verifier, "each pair is fresh");
    assert.notEqual(other.challenge, challenge);
  });

  await t.test("pkceChallenge: RFC 7636 appendix B", async () => {
    assert.equal(await pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  await t.test("authorizeUrl: GET /oauth/{provider}/authorize with the query, the provider escaped", () => {
    const redirectTo = "https://app.example.com/signed-in?next=/a&b=c";
    const codeChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const u = new URL(authorizeUrl("https://api.example.com/keel/", "google", { redirectTo, codeChallenge }));
    assert.equal(u.origin + u.pathname, "https://api.example.com/keel/oauth/google/authorize");
    assert.deepEqual([...u.searchParams], [
      ["redirect_to", redirectTo],
      ["code_challenge", codeChallenge],
      ["code_challenge_method", "S256"],
    ]);
    assert.equal(
      authorizeUrl("http://x", "a/b?c", { redirectTo: "r", codeChallenge: "c" }),
      "http://x/oauth/a%2Fb%3Fc/authorize?redirect_to=r&code_challenge=c&code_challenge_method=S256",
    );
  });

  await t.test("authorizeUrl of a provider keel does not have → 404 problem, no redirect", async () => {
    const { challenge } = await createPkcePair();
    const res = await fetch(authorizeUrl(baseUrl, "nosuchprovider", { redirectTo: "https://app.example.com/signed-in", codeChallenge: challenge }), { redirect: "manual" });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("location"), null);
    problemJSON(res);
    const problem = (await res.json()) as Problem;
    assert.equal(problem.status, 404);
  });

  await t.test("authorizeUrl with a challenge that is not S256-shaped → 400", async () => {
    const res = await fetch(authorizeUrl(baseUrl, "google", { redirectTo: "https://app.example.com/", codeChallenge: "short" }), { redirect: "manual" });
    assert.equal(res.status, 400);
    problemJSON(res);
  });

  await t.test("oauthRedirectResult reads code or error off redirect_to's query", () => {
    assert.deepEqual(oauthRedirectResult("?code=abc"), { code: "abc" });
    assert.deepEqual(oauthRedirectResult("error=access_denied&error_description=the+user+said+no"), {
      error: "access_denied",
      errorDescription: "the user said no",
    });
    assert.deepEqual(oauthRedirectResult(new URLSearchParams({ error: "account_exists" })), { error: "account_exists", errorDescription: "" });
    assert.equal(oauthRedirectResult(""), undefined);
  });

  await t.test("exchangeCode with a bogus code → 400 problem; the session keeps no pair", async () => {
    const seen: (Token | undefined)[] = [];
    const session = createKeelSession({ baseUrl, onTokens: (tok) => seen.push(tok) });
    const { verifier } = await createPkcePair();
    const { data, error, response } = await session.exchangeCode({ code: "not-a-code", verifier });
    assert.equal(response.status, 400);
    problemJSON(response);
    assert.equal(data, undefined);
    assert.equal(error?.status, 400);
    assert.equal(session.tokens, undefined);
    assert.deepEqual(seen, []);
    assert.equal((await session.client.GET("/profile")).response.status, 401, "no token is sent");
  });

  await t.test("POST /oauth/token with a verifier outside the spec's pattern → 400", async () => {
    const { error, response } = await createKeelClient({ baseUrl }).POST("/oauth/token", { body: { code: "x", code_verifier: "too-short" } });
    assert.equal(response.status, 400);
    assert.equal(error?.status, 400);
  });

  await t.test("identities: none when signed in with a password; unknown id → 404; unknown provider → 404", async () => {
    const { email, password } = await registered("ts-oidc");
    const session = createKeelSession({ baseUrl });
    assert.equal((await session.login({ email, password })).response.status, 200);
    await verifiedByMail(email, session); // linking needs a proved address

    const list = await session.client.GET("/profile/identities");
    assert.equal(list.response.status, 200, JSON.stringify(list.error));
    const identities: Identity[] | undefined = list.data;
    assert.deepEqual(identities, []);

    const del = await session.client.DELETE("/profile/identities/{ref}", { params: { path: { ref: 999 } } });
    assert.equal(del.response.status, 404);
    problemJSON(del.response);
    assert.equal(del.error?.status, 404);

    const { challenge } = await createPkcePair();
    const link = await session.linkIdentity("nosuchprovider", { redirectTo: "https://app.example.com/linked", codeChallenge: challenge });
    assert.equal(link.response.status, 404);
    assert.equal(link.data, undefined);
    assert.equal(link.error?.status, 404);

    const anon = await createKeelClient({ baseUrl }).GET("/profile/identities");
    assert.equal(anon.response.status, 401);
    await session.logout();
  });
});

// Compile-time only: paths and methods the spec does not have do not type-check.
// Never called; `npm run typecheck` fails if one of these starts compiling.
export function typeOnlyChecks(keel: ReturnType<typeof createKeelClient>): void {
  // @ts-expect-error there is no GET /users in the spec.
  void keel.GET("/users");
  // @ts-expect-error /profile has no POST.
  void keel.POST("/profile", {});
  // @ts-expect-error register needs a password.
  void keel.POST("/register", { body: { email: "ada@example.com" } });
}

test("second factor: enrol → verify → login at aal1 → POST /mfa/verify", async (t) => {
  const email = `mfa-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const anon = createKeelClient({ baseUrl });
  assert.equal((await anon.POST("/register", { body: { email, password } })).response.status, 201);

  const first = createKeelSession({ baseUrl });
  assert.equal((await first.login({ email, password })).response.status, 200);
  assert.equal(assurance(first.tokens?.token ?? "").aal, "aal1");
  assert.deepEqual(assurance(first.tokens?.token ?? "").amr, ["pwd"]);
  assert.equal(await first.mfaRequired(), false, "no factor yet");

  await t.test("POST /mfa/totp before the address is proved → 403 email-unverified", async () => {
    const { error, response } = await first.client.POST("/mfa/totp");
    assert.equal(response.status, 403);
    assert.equal(error?.type, emailUnverifiedType);
  });
  await verifiedByMail(email, first);

  let secret = "";
  let id = "";
  await t.test("POST /mfa/totp → 201 with the secret and its otpauth URI", async () => {
    const { data, error, response } = await first.client.POST("/mfa/totp");
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.ok(data);
    assert.match(data.secret, /^[A-Z2-7]{32}$/, "160 bits in base32");
    assert.ok(data.otpauth_uri.startsWith("otpauth://totp/keel:"), data.otpauth_uri);
    assert.equal(new URL(data.otpauth_uri).searchParams.get("secret"), data.secret);
    ({ secret, id } = data);
    const factors = await first.client.GET("/mfa/factors");
    assert.deepEqual(factors.data?.map((f) => [f.id, f.type, f.verified]), [[id, "totp", false]]);
    assert.ok(!JSON.stringify(factors.data).includes(secret), "GET /mfa/factors never shows a secret");
  });

  let usedAt = 0;
  let recovery: string[] = [];
  await t.test("POST /mfa/totp/{id}/verify → ten recovery codes, and the session is aal2", async () => {
    usedAt = Date.now();
    const { data, error, response } = await first.verifyFactor(id, totp(secret, usedAt));
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    assert.equal(data.recovery_codes.length, 10);
    recovery = data.recovery_codes;
    assert.equal(first.tokens?.token, data.tokens.token, "the session keeps the new pair");
    assert.deepEqual(assurance(data.tokens.token), { aal: "aal2", amr: ["pwd", "otp", "mfa"] });
    assert.equal((await first.client.GET("/profile")).response.status, 200);
  });

  await t.test("a new login is aal1: 403 mfa-required until POST /mfa/verify", async () => {
    const second = createKeelSession({ baseUrl });
    assert.equal((await second.login({ email, password })).response.status, 200);
    assert.equal(assurance(second.tokens?.token ?? "").aal, "aal1");
    assert.equal(await second.mfaRequired(), true);
    const denied = await second.client.GET("/profile");
    assert.equal(denied.response.status, 403);
    assert.equal(denied.error?.type, mfaRequiredType);

    const replay = await second.verifyMFA({ code: totp(secret, usedAt) });
    assert.equal(replay.response.status, 400, "the code the enrolment used works no more");
    // The next step's code: accepted with one step of clock skew.
    const { data, error, response } = await second.verifyMFA({ code: totp(secret, usedAt + 30_000) });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.deepEqual(assurance(data?.token ?? ""), { aal: "aal2", amr: ["pwd", "otp", "mfa"] });
    assert.equal(await second.mfaRequired(), false);
    assert.equal((await second.client.GET("/profile")).response.status, 200);

    const sessions = await second.client.GET("/sessions");
    const levels = (sessions.data ?? []).map((s: Session) => s.aal).sort();
    assert.deepEqual(levels, ["aal2", "aal2"], "GET /sessions shows each session's level");
  });

  await t.test("a recovery code works once", async () => {
    const third = createKeelSession({ baseUrl });
    await third.login({ email, password });
    const code = recovery[0] ?? "";
    assert.equal((await third.verifyMFA({ recovery_code: code })).response.status, 200);
    const fourth = createKeelSession({ baseUrl });
    await fourth.login({ email, password });
    const again = await fourth.verifyMFA({ recovery_code: code });
    assert.equal(again.response.status, 400);
    assert.equal(again.error?.errors?.[0]?.field, "/recovery_code");
  });

  await t.test("removing the factor lowers the sessions: the old token gets 401, the session refreshes and retries", async () => {
    const held = first.tokens?.token ?? "";
    const removed = await first.client.DELETE("/mfa/factors/{id}", { params: { path: { id } }, body: { recovery_code: recovery[1] ?? "" } });
    assert.equal(removed.response.status, 204, JSON.stringify(removed.error));
    const stale = await anon.GET("/profile", { headers: { Authorization: `Bearer ${held}` } });
    assert.equal(stale.response.status, 401, "a token of before the lowering");
    const { response } = await first.client.GET("/profile");
    assert.equal(response.status, 200, "refreshed and sent again");
    assert.notEqual(first.tokens?.token, held);
    assert.equal(assurance(first.tokens?.token ?? "").aal, "aal1");
  });
});

// Passkeys: scripts/e2e-node.sh starts keel with WEBAUTHN_RP_ID=localhost. The
// ceremonies' options have the shape a browser takes, the helpers turn them
// into ArrayBuffers, and an answer that does not verify is refused (the real
// ceremonies run in Chromium: cmd/keel's TestBrowserPasskey).
test("passkey options and the ceremony helpers", async (t) => {
  const session = createKeelSession({ baseUrl });
  const email = `pk-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  assert.equal((await session.client.POST("/register", { body: { email, password } })).response.status, 201);
  assert.equal((await session.login({ email, password })).response.status, 200);
  await verifiedByMail(email, session);

  await t.test("POST /passkeys/register/options → creation options", async () => {
    const { data, response } = await session.client.POST("/passkeys/register/options");
    assert.equal(response.status, 200);
    const o = data?.options as Record<string, any>;
    assert.ok(data?.flow_id);
    assert.equal(o.rp.id, "localhost");
    assert.equal(o.authenticatorSelection.residentKey, "required");
    assert.equal(o.authenticatorSelection.userVerification, "preferred");
    assert.equal(o.attestation, "none");
    const publicKey = creationOptions(data?.options ?? {});
    assert.ok((publicKey.challenge as ArrayBuffer).byteLength >= 16, "a challenge of 16 bytes at least");
    // A random 32-byte user handle for an account that has no passkey yet (never its id).
    assert.equal((publicKey.user.id as ArrayBuffer).byteLength, 32);
    assert.deepEqual(publicKey.excludeCredentials, []);
    assert.deepEqual((await session.client.GET("/passkeys")).data, []);
  });

  await t.test("POST /passkeys/login/options → request options; a forged answer → 401", async () => {
    const { data, response } = await createKeelClient({ baseUrl }).POST("/passkeys/login/options");
    assert.equal(response.status, 200);
    const o = data?.options as Record<string, any>;
    assert.equal(o.rpId, "localhost");
    assert.equal(o.userVerification, "preferred");
    assert.equal(o.allowCredentials, undefined, "discoverable: no credentials listed");
    assert.ok((requestOptions(data?.options ?? {}).challenge as ArrayBuffer).byteLength >= 16);

    const bytes = (s: string) => new TextEncoder().encode(s).buffer;
    const forged = {
      get: async () => ({
        id: "AAECAw", rawId: fromBase64url("AAECAw"), type: "public-key", authenticatorAttachment: null,
        getClientExtensionResults: () => ({}),
        response: { clientDataJSON: bytes("{}"), authenticatorData: bytes("x".repeat(37)), signature: bytes("sig"), userHandle: null },
      }) as unknown as Credential,
      create: async () => null,
    };
    const res = await createKeelSession({ baseUrl }).loginWithPasskey(forged);
    assert.equal(res.response.status, 401, JSON.stringify(res.error));
    assert.equal(toBase64url(fromBase64url("3q2-7w")), "3q2-7w");
  });
});
