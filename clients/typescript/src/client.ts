// A typed client for keel. Every path, method, request body and response type
// comes from src/schema.d.ts, which openapi-typescript generates from
// api/openapi.yaml (`make ts-generate`): when the spec changes, code that no
// longer matches it stops compiling. A frontend imports this file (or just
// schema.d.ts) and shares the server's contract without writing a type by hand.
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
// verifyAccessToken: for services that check keel's tokens with its published keys (jose).
export { type AccessTokenClaims, type AccessTokenVerifier, verifyAccessToken, type VerifyAccessTokenOptions } from "./verify.js";
// verifyWebhook: for the app that receives keel's webhooks (Standard Webhooks, npm standardwebhooks).
export { type WebhookEvent, type WebhookHeaders, WebhookVerificationError, verifyWebhook } from "./webhooks.js";

type Schemas = components["schemas"];
export type Health = Schemas["Health"];
export type RegisterRequest = Schemas["RegisterRequest"];
export type LoginRequest = Schemas["LoginRequest"];
export type User = Schemas["User"];
export type Token = Schemas["Token"];
export type RefreshRequest = Schemas["RefreshRequest"];
export type Session = Schemas["Session"];
/** An RFC 9457 problem: the body of every keel error (`application/problem+json`). */
export type Problem = Schemas["Problem"];
export type FieldError = Schemas["FieldError"];
/** A provider's name, as in keel's `OIDC_PROVIDERS` (`google`, `gitlab`, …). */
export type ProviderName = Schemas["ProviderName"];
export type OAuthTokenRequest = Schemas["OAuthTokenRequest"];
export type LinkIdentityRequest = Schemas["LinkIdentityRequest"];
export type AuthorizeURL = Schemas["AuthorizeURL"];
/** A provider account linked to a user (`GET /profile/identities`). */
export type Identity = Schemas["Identity"];
export type AAL = Schemas["AAL"];
export type TOTPEnrollment = Schemas["TOTPEnrollment"];
export type FactorVerified = Schemas["FactorVerified"];
export type Factor = Schemas["Factor"];
export type RecoveryCodes = Schemas["RecoveryCodes"];
export type MFAVerifyRequest = Schemas["MFAVerifyRequest"];
/** A passkey of the signed-in user (`GET /passkeys`). */
export type Passkey = Schemas["Passkey"];
/** A passkey ceremony's `flow_id` and the options for `navigator.credentials`, binary as base64url. */
export type PasskeyOptions = Schemas["PasskeyOptions"];
/** A PublicKeyCredential as JSON, as keel takes it. */
export type PublicKeyCredentialJSON = Schemas["PublicKeyCredential"];

/** The problem type of a 403 that asks for a second factor first. */
export const mfaRequiredType = "urn:keel:problem:mfa-required";

/**
 * The problem type of a 403 that asks for a verified email address first: a TOTP factor, a passkey or a
 * linked provider needs one. Verify with `POST /email/verify {token}` from the account's session.
 */
export const emailUnverifiedType = "urn:keel:problem:email-unverified";

/**
 * assurance reads an access token's `aal` (`aal1`, `aal2`) and `amr` (RFC 8176:
 * `pwd`, `otp`, `mfa`) claims. It does not check the signature: that is the
 * server's to do; this only tells the client what the token says.
 */
export function assurance(token: string): { aal: AAL; amr: string[] } {
  const payload = token.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  const claims = JSON.parse(json) as { aal?: AAL; amr?: string[] };
  return { aal: claims.aal ?? "aal1", amr: claims.amr ?? [] };
}

export type KeelClient = Client<paths>;

export interface KeelClientOptions {
  /** Where keel is served, e.g. `http://localhost:8080` (no trailing path). */
  baseUrl: string;
  /**
   * The bearer token to send, read before each request: return the token from
   * `POST /login` (kept wherever the app keeps it), or undefined for none.
   */
  token?: () => string | undefined;
  /** A fetch to use instead of globalThis.fetch (tests, SSR). */
  fetch?: (input: Request) => Promise<Response>;
}

/** createKeelClient returns an openapi-fetch client typed by keel's spec. */
export function createKeelClient(options: KeelClientOptions): KeelClient {
  const client = createFetchClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token) {
    client.use(bearer(token));
  }
  return client;
}

/** bearer is middleware that adds `Authorization: Bearer <token>` when a token is at hand. */
export function bearer(token: () => string | undefined): Middleware {
  return {
    onRequest({ request }) {
      const t = token();
      if (t && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${t}`);
      }
      return request;
    },
  };
}

/*
 * Sign-in with an OpenID Connect provider (Google, GitLab, Keycloak, …): the app's half.
 *
 * keel runs the provider's side (its state, nonce and PKCE, the ID token's checks, finding or
 * creating the account) and sends the browser back to the app's `redirect_to` with a one-time
 * `code`, never a token. The app proves the code is its own with its own PKCE pair: the
 * challenge leaves with the browser, the verifier stays in the tab and goes with the code to
 * `POST /oauth/token`, so a code that leaks from the address bar is worth nothing elsewhere.
 *
 *   // The sign-in page: make a pair, keep the verifier, send the browser to keel.
 *   const { verifier, challenge } = await createPkcePair();
 *   sessionStorage.setItem("keel.pkce", verifier);
 *   window.location.assign(authorizeUrl(API, "google", {
 *     redirectTo: "https://app.example.com/signed-in", // one of keel's OAUTH_REDIRECT_URLS, exactly
 *     codeChallenge: challenge,
 *   }));
 *
 *   // The redirect_to page (https://app.example.com/signed-in):
 *   const result = oauthRedirectResult(window.location.search);
 *   const verifier = sessionStorage.getItem("keel.pkce");
 *   sessionStorage.removeItem("keel.pkce");            // a code and its verifier work once
 *   history.replaceState(null, "", location.pathname); // and the code leaves the address bar
 *   if (result && "code" in result && verifier) {
 *     const { data, error } = await session.exchangeCode({ code: result.code, verifier });
 *     // data: signed in, the session holds the pair as after session.login;
 *     // error: a 400 problem (unknown, used or expired code): start again.
 *   } else if (result && "error" in result) {
 *     // e.g. access_denied, account_exists: show result.error / result.errorDescription.
 *   }
 *
 * Linking a provider to the signed-in user runs the same way, except that the first step is
 * `session.linkIdentity("google", { redirectTo, codeChallenge })`: a navigation cannot carry the
 * bearer header, so keel answers with the `authorize_url` to send the browser to.
 */

/** A PKCE pair (RFC 7636, S256): the challenge goes to keel, the verifier stays with the app. */
export interface PkcePair {
  /** 43 base64url characters from 32 random bytes: for `POST /oauth/token` (exchangeCode). */
  verifier: string;
  /** `BASE64URL(SHA256(verifier))` without padding: the `code_challenge` for authorizeUrl or linkIdentity. */
  challenge: string;
}

/**
 * createPkcePair makes a fresh PKCE pair with Web Crypto, in browsers and Node ≥ 20. Browsers
 * offer `crypto.subtle` only in a secure context (https, or http://localhost).
 */
export async function createPkcePair(): Promise<PkcePair> {
  const verifier = base64url(webCrypto().getRandomValues(new Uint8Array(32)));
  return { verifier, challenge: await pkceChallenge(verifier) };
}

/** pkceChallenge is the S256 challenge of a verifier: `BASE64URL(SHA256(verifier))`, no padding. */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await webCrypto().subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function webCrypto(): Crypto {
  const c = globalThis.crypto;
  if (!c?.subtle) {
    throw new Error("keel: Web Crypto (crypto.subtle) is not available; in a browser it needs https or localhost");
  }
  return c;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/*
 * Passkeys (WebAuthn). keel's options carry their binary members (challenge, user.id, credential
 * ids) as base64url strings, and it takes the browser's answer the same way; these helpers
 * convert both ways for browsers without PublicKeyCredential.parseCreationOptionsFromJSON and
 * toJSON(). The session's registerPasskey and loginWithPasskey run a whole ceremony:
 *
 *   const session = createKeelSession({ baseUrl: API });
 *   await session.login({ email, password });
 *   await session.registerPasskey("Ada's laptop");   // navigator.credentials.create, then POST /passkeys/register
 *   // later, on any device with the passkey, with no email or password:
 *   const { data } = await session.loginWithPasskey(); // navigator.credentials.get, then POST /passkeys/login
 *
 * A page calls navigator.credentials only on a host of keel's WEBAUTHN_RP_ID, from one of its
 * WEBAUTHN_ORIGINS (https, or http://localhost).
 */

/** fromBase64url decodes keel's base64url (no padding) into an ArrayBuffer. */
export function fromBase64url(s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out.buffer;
}

/** toBase64url encodes bytes as base64url without padding, as keel takes them. */
export function toBase64url(buf: ArrayBuffer | ArrayBufferView): string {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return base64url(bytes);
}

type Descriptor = { id: string; type: string; transports?: string[] };

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] {
  return ((list as Descriptor[] | undefined) ?? []).map((c): PublicKeyCredentialDescriptor => {
    const d: PublicKeyCredentialDescriptor = { type: "public-key", id: fromBase64url(c.id) };
    if (c.transports) d.transports = c.transports as AuthenticatorTransport[];
    return d;
  });
}

/** creationOptions turns `POST /passkeys/register/options`' `options` into the `publicKey` of navigator.credentials.create. */
export function creationOptions(options: PasskeyOptions["options"]): PublicKeyCredentialCreationOptions {
  const o = options as unknown as PublicKeyCredentialCreationOptions & { challenge: string; user: { id: string; name: string; displayName: string } };
  return {
    ...o,
    challenge: fromBase64url(o.challenge),
    user: { ...o.user, id: fromBase64url(o.user.id) },
    excludeCredentials: descriptors(o.excludeCredentials),
  };
}

/** requestOptions turns `POST /passkeys/login/options`' `options` into the `publicKey` of navigator.credentials.get. */
export function requestOptions(options: PasskeyOptions["options"]): PublicKeyCredentialRequestOptions {
  const o = options as unknown as PublicKeyCredentialRequestOptions & { challenge: string };
  return { ...o, challenge: fromBase64url(o.challenge), allowCredentials: descriptors(o.allowCredentials) };
}

/** credentialJSON is what navigator.credentials.create or .get returned, as keel takes it. */
export function credentialJSON(credential: PublicKeyCredential): PublicKeyCredentialJSON {
  const r = credential.response;
  const response: Record<string, unknown> = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if ("attestationObject" in r) {
    const a = r as AuthenticatorAttestationResponse;
    response.attestationObject = toBase64url(a.attestationObject);
    response.transports = typeof a.getTransports === "function" ? a.getTransports() : [];
  } else {
    const a = r as AuthenticatorAssertionResponse;
    response.authenticatorData = toBase64url(a.authenticatorData);
    response.signature = toBase64url(a.signature);
    response.userHandle = a.userHandle ? toBase64url(a.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment,
    clientExtensionResults: credential.getClientExtensionResults(),
    response,
  };
}

/** The part of navigator.credentials the passkey helpers use (a test may pass its own). */
export interface Credentials {
  create(options: CredentialCreationOptions): Promise<Credential | null>;
  get(options: CredentialRequestOptions): Promise<Credential | null>;
}

function browserCredentials(): Credentials {
  const c = (globalThis as { navigator?: { credentials?: Credentials } }).navigator?.credentials;
  if (!c) throw new Error("keel: navigator.credentials is not available; passkeys need a browser in a secure context");
  return c;
}

export interface AuthorizeOptions {
  /** Where keel sends the browser back with `code` or `error`: one of its `OAUTH_REDIRECT_URLS`, exactly. */
  redirectTo: string;
  /** The challenge of a pair from createPkcePair. */
  codeChallenge: string;
}

/**
 * authorizeUrl is the URL of `GET /oauth/{provider}/authorize` on keel at baseUrl, for
 * `window.location.assign`: a navigation, not a fetch, because keel answers with a redirect to
 * the provider's sign-in page.
 */
export function authorizeUrl(baseUrl: string, provider: ProviderName, options: AuthorizeOptions): string {
  const query = new URLSearchParams({
    redirect_to: options.redirectTo,
    code_challenge: options.codeChallenge,
    code_challenge_method: "S256",
  });
  return `${baseUrl.replace(/\/+$/, "")}/oauth/${encodeURIComponent(provider)}/authorize?${query}`;
}

/** What keel put on `redirect_to`: a code for exchangeCode, or the reason the sign-in was refused. */
export type OAuthRedirectResult = { code: string } | { error: string; errorDescription: string };

/**
 * oauthRedirectResult reads keel's answer from the redirect_to page's query (`location.search`,
 * with or without the `?`): `{ code }`, `{ error, errorDescription }` (`access_denied`,
 * `account_exists`, `identity_taken`, …; the description is empty when none came), or
 * undefined when the query has neither, so the page was not opened by keel.
 */
export function oauthRedirectResult(search: string | URLSearchParams): OAuthRedirectResult | undefined {
  const q = typeof search === "string" ? new URLSearchParams(search) : search;
  const error = q.get("error");
  if (error) return { error, errorDescription: q.get("error_description") ?? "" };
  const code = q.get("code");
  return code ? { code } : undefined;
}

export interface KeelSessionOptions {
  /** Where keel is served, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** A fetch to use instead of globalThis.fetch (tests, SSR). */
  fetch?: (input: Request) => Promise<Response>;
  /**
   * Refresh this many seconds before the access token expires, on the next
   * request that needs it (default 30). The refresh happens before that request
   * is sent, so it never goes out with an expired token.
   */
  refreshLeeway?: number;
  /** The clock, in milliseconds since the epoch (default Date.now); tests move it. */
  now?: () => number;
  /**
   * Called with the new pair after each login and refresh, and with undefined
   * when the session is over (logout, or a refresh the server refused), so an
   * app can keep the pair wherever it keeps secrets.
   */
  onTokens?: (tokens: Token | undefined) => void;
}

/**
 * createKeelSession keeps the pair `POST /login` (or `POST /oauth/token`) returns and uses it: `client`
 * sends the access token on each request and, when it is about to expire,
 * refreshes first (`POST /token/refresh`), storing the new pair (keel rotates
 * refresh tokens: each one is good once); a 401 to a request it sent with the
 * pair's token (a token of before the session's level changed) is refreshed and
 * the request sent again, once. Refreshes are serialised: calls that
 * overlap share one request, because presenting a refresh token twice makes keel
 * end the session (reuse detection, unless `REFRESH_REUSE_INTERVAL` is set).
 * One KeelSession per signed-in user and tab; tabs that share a pair must
 * coordinate their refreshes themselves.
 */
export function createKeelSession(options: KeelSessionOptions) {
  const now = options.now ?? Date.now;
  const leeway = (options.refreshLeeway ?? 30) * 1000;
  // auth has no middleware: it sends login, refresh and logout as they are.
  const auth = createKeelClient({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  let tokens: Token | undefined;
  let expiresAt = 0; // when tokens.token expires, by now()
  let refreshing: ReturnType<typeof doRefresh> | undefined;

  function set(next: Token | undefined): void {
    tokens = next;
    expiresAt = next ? now() + next.expires_in * 1000 : 0;
    options.onTokens?.(next);
  }

  async function doRefresh(refreshToken: string) {
    const res = await auth.POST("/token/refresh", { body: { refresh_token: refreshToken } });
    if (res.data) {
      set(res.data);
    } else if (res.response.status === 401 && tokens?.refresh_token === refreshToken) {
      set(undefined); // spent, expired or the session has ended: sign in again
    }
    return res;
  }

  const client = createKeelClient({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  // The requests sent with the session's access token, each with a copy to send
  // again: keel answers a token minted before its session's level changed (a
  // second factor verified or removed, AAL2_MAX_AGE passed) with 401, as an
  // expired one, and the session then refreshes once and retries once.
  const sent = new WeakMap<Request, { copy: Request; token: string }>();
  client.use({
    async onRequest({ request }) {
      if (tokens && now() >= expiresAt - leeway) {
        await session.refresh();
      }
      if (tokens && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${tokens.token}`);
        sent.set(request, { copy: request.clone(), token: tokens.token });
      }
      return request;
    },
    async onResponse({ request, response }) {
      const kept = sent.get(request);
      if (response.status !== 401 || !kept || !tokens) return undefined;
      if (tokens.token === kept.token) await session.refresh(); // unless another request did
      if (!tokens || tokens.token === kept.token) return undefined; // the session is over: the 401 stands
      kept.copy.headers.set("Authorization", `Bearer ${tokens.token}`);
      return (options.fetch ?? globalThis.fetch)(kept.copy);
    },
  });

  const session = {
    /** An openapi-fetch client that sends the session's access token, refreshing it ahead of expiry. */
    client,
    /** The current pair, or undefined when signed out. */
    get tokens(): Token | undefined {
      return tokens;
    },
    /** POST /login: on 200 the session keeps the pair. */
    async login(body: LoginRequest) {
      const res = await auth.POST("/login", { body });
      if (res.data) set(res.data);
      return res;
    },
    /**
     * POST /oauth/token: the one-time code from `redirect_to` and the verifier of the pair whose
     * challenge started the sign-in. On 200 the session keeps the pair, as after login; an
     * unknown, used or expired code, or a verifier that does not match, gets a 400 problem.
     */
    async exchangeCode({ code, verifier }: { code: string; verifier: string }) {
      const res = await auth.POST("/oauth/token", { body: { code, code_verifier: verifier } });
      if (res.data) set(res.data);
      return res;
    },
    /**
     * POST /profile/identities/{provider} as the signed-in user: on 200, `data.authorize_url` is
     * the provider page to send the browser to; it comes back to `redirectTo` with a code for
     * exchangeCode, as a sign-in does, and the provider account is then linked (`GET
     * /profile/identities`). 404 when keel has no such provider.
     */
    linkIdentity(provider: ProviderName, options: AuthorizeOptions) {
      return client.POST("/profile/identities/{ref}", {
        params: { path: { ref: provider } },
        body: { redirect_to: options.redirectTo, code_challenge: options.codeChallenge },
      });
    },
    /**
     * POST /token/refresh with the kept refresh token: on 200 the new pair replaces
     * it; on 401 the session is over and the pair is dropped. Overlapping calls
     * share one request. Throws when there is no pair.
     */
    refresh() {
      if (!tokens) throw new Error("keel: no session to refresh; log in first");
      refreshing ??= doRefresh(tokens.refresh_token).finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },
    /**
     * Whether this session must show a second factor before anything else: its
     * token is `aal1` and the account has a verified factor (GET /mfa/factors,
     * which an `aal1` session may call). Then call `verifyMFA`.
     */
    async mfaRequired(): Promise<boolean> {
      if (!tokens || assurance(tokens.token).aal === "aal2") return false;
      const { data } = await client.GET("/mfa/factors");
      return (data ?? []).some((f) => f.verified);
    },
    /**
     * POST /mfa/verify with a TOTP `code` or a `recovery_code`: on 200 the session,
     * now `aal2`, keeps its new pair (the refresh token held before is spent).
     */
    async verifyMFA(body: MFAVerifyRequest) {
      const res = await client.POST("/mfa/verify", { body });
      if (res.data) set(res.data);
      return res;
    },
    /**
     * POST /mfa/totp/{id}/verify: confirms an enrolment (`client.POST("/mfa/totp")`)
     * with a code from it; on 200 the session keeps its new `aal2` pair and the
     * answer holds the recovery codes, shown this once.
     */
    async verifyFactor(id: string, code: string) {
      const res = await client.POST("/mfa/totp/{id}/verify", { params: { path: { id } }, body: { code } });
      if (res.data) set(res.data.tokens);
      return res;
    },
    /**
     * Registers a passkey for the signed-in user: POST /passkeys/register/options,
     * navigator.credentials.create with those options, then POST /passkeys/register.
     * Resolves to the 201's passkey in `data`, or the problem in `error`; throws when
     * the browser refuses (the user cancelled, or the authenticator holds a passkey
     * of this account already: a DOMException named InvalidStateError).
     */
    async registerPasskey(name: string, credentials: Credentials = browserCredentials()) {
      const opts = await client.POST("/passkeys/register/options");
      if (!opts.data) return { data: undefined, error: opts.error, response: opts.response };
      const created = await credentials.create({ publicKey: creationOptions(opts.data.options) });
      if (!created) throw new Error("keel: navigator.credentials.create returned no credential");
      return client.POST("/passkeys/register", {
        body: { flow_id: opts.data.flow_id, name, credential: credentialJSON(created as PublicKeyCredential) },
      });
    },
    /**
     * Signs in with a passkey, no email or password: POST /passkeys/login/options,
     * navigator.credentials.get (the browser offers the passkeys it has for keel's
     * RP ID), then POST /passkeys/login; on 200 the session keeps the pair, `aal2`
     * when the authenticator verified the user (`assurance(tokens.token)`).
     */
    async loginWithPasskey(credentials: Credentials = browserCredentials()) {
      const opts = await auth.POST("/passkeys/login/options");
      if (!opts.data) return { data: undefined, error: opts.error, response: opts.response };
      const got = await credentials.get({ publicKey: requestOptions(opts.data.options) });
      if (!got) throw new Error("keel: navigator.credentials.get returned no credential");
      const res = await auth.POST("/passkeys/login", {
        body: { flow_id: opts.data.flow_id, credential: credentialJSON(got as PublicKeyCredential) },
      });
      if (res.data) set(res.data);
      return res;
    },
    /** POST /logout with the current access token; the pair is dropped whatever the answer. */
    async logout() {
      const token = tokens?.token;
      set(undefined);
      return auth.POST("/logout", token ? { headers: { Authorization: `Bearer ${token}` } } : {});
    },
  };
  return session;
}

/** The session helper createKeelSession returns. */
export type KeelSession = ReturnType<typeof createKeelSession>;
