// A typed client for keel. Every path, method, request body and response type
// comes from src/schema.d.ts, which openapi-typescript generates from
// api/openapi.yaml (`make ts-generate`): when the spec changes, code that no
// longer matches it stops compiling. A frontend imports this file (or just
// schema.d.ts) and shares the server's contract without writing a type by hand.
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

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
export type AAL = Schemas["AAL"];
export type TOTPEnrollment = Schemas["TOTPEnrollment"];
export type FactorVerified = Schemas["FactorVerified"];
export type Factor = Schemas["Factor"];
export type RecoveryCodes = Schemas["RecoveryCodes"];
export type MFAVerifyRequest = Schemas["MFAVerifyRequest"];

/** The problem type of a 403 that asks for a second factor first. */
export const mfaRequiredType = "urn:keel:problem:mfa-required";

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
 * createKeelSession keeps the pair `POST /login` returns and uses it: `client`
 * sends the access token on each request and, when it is about to expire,
 * refreshes first (`POST /token/refresh`), storing the new pair (keel rotates
 * refresh tokens: each one is good once). Refreshes are serialised: calls that
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
  client.use({
    async onRequest({ request }) {
      if (tokens && now() >= expiresAt - leeway) {
        await session.refresh();
      }
      if (tokens && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${tokens.token}`);
      }
      return request;
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
