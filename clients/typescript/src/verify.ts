// Checking keel's access tokens from another service (a Node API, a worker, an edge function) with
// keel's issuer URL alone: no shared secret, only the public keys keel publishes. The keys come from
// the discovery document's `jwks_uri` through jose's createRemoteJWKSet, which caches them and fetches
// again when a token names a key it has not seen (a rotation) or when its cache has expired (a key
// removed, e.g. revoked). See docs/tokens.md.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

import type { components } from "./schema.js";

/** The claims of a keel access token, once its signature, `typ`, `iss`, `aud` and `exp` have been checked. */
export interface AccessTokenClaims extends JWTPayload {
  /** The user's id, a decimal string. */
  sub: string;
  /** The session's id: the token stands for that session (keel ends sessions; a verifier cannot see that). */
  sid: string;
  /** The assurance level of the session: `aal1` or `aal2` (a second factor or a verifying passkey). */
  aal: components["schemas"]["AAL"];
  /** How the user signed in (RFC 8176: `pwd`, `otp`, `mfa`, …). */
  amr: string[];
  /**
   * The user's roles: `app_metadata.roles` as the operator set it when the token was issued; absent when
   * it has none. The claims keel's `JWT_CLAIMS_FROM_APP_METADATA` lists are here under their own names.
   */
  roles?: string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issue time, seconds since the epoch. */
  iat: number;
  /** keel's `API_URL`: the issuer URL the verifier was built with. */
  iss: string;
  /** keel's `JWT_AUDIENCE` (default `keel`). */
  aud: string | string[];
}

export interface VerifyAccessTokenOptions {
  /** The `aud` to require: keel's `JWT_AUDIENCE` (default `keel`). */
  audience?: string;
  /**
   * How long a fetched key set is used before it is fetched again, in ms (default 300 000, keel's
   * `JWKS_MAX_AGE` default). A revoked key is accepted here for up to this long after keel dropped it.
   */
  cacheMaxAge?: number;
  /**
   * After a fetch, how long a token with an unknown `kid` is refused without fetching again, in ms
   * (jose's default, 30 000), so that made-up `kid`s cannot make this service hammer keel.
   */
  cooldownDuration?: number;
  /** Leeway for `exp`, `iat` and `nbf`: seconds, or a string such as `"30s"` (default none). */
  clockTolerance?: string | number;
}

/** A function that checks a keel access token and resolves to its claims, or rejects with jose's error. */
export type AccessTokenVerifier = (token: string) => Promise<AccessTokenClaims>;

/** The algorithms keel signs access tokens with; HS256 (a shared secret) and `none` are never taken. */
const algorithms = ["EdDSA", "ES256", "RS256"];

/**
 * verifyAccessToken returns a function that checks keel's access tokens with only the issuer URL
 * (keel's `API_URL`): it reads `<issuer>/.well-known/openid-configuration` once (its `issuer` must be
 * the same URL), then verifies each token against the key set at its `jwks_uri`: the signature by a
 * published key of the token's `alg` (EdDSA, ES256 or RS256), `typ: at+jwt`, `iss`, `aud` and `exp`.
 * It rejects with jose's errors (`errors.JWTExpired`, `errors.JWKSNoMatchingKey`, …). Build it once per
 * process and share it, so the key set is fetched once, not per request.
 *
 *   const verify = verifyAccessToken("https://auth.example.com");
 *   const claims = await verify(bearerToken); // claims.sub, claims.aal, …
 */
export function verifyAccessToken(issuerURL: string, options: VerifyAccessTokenOptions = {}): AccessTokenVerifier {
  const issuer = issuerURL.replace(/\/+$/, "");
  let keySet: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  async function discover() {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { accept: "application/json" } });
    if (res.status !== 200) throw new Error(`keel: ${issuer}/.well-known/openid-configuration answered ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== issuer) throw new Error(`keel: the discovery document's issuer is ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}`);
    if (typeof doc.jwks_uri !== "string") throw new Error("keel: the discovery document has no jwks_uri");
    return createRemoteJWKSet(new URL(doc.jwks_uri), {
      cacheMaxAge: options.cacheMaxAge ?? 300_000,
      ...(options.cooldownDuration === undefined ? {} : { cooldownDuration: options.cooldownDuration }),
    });
  }

  return async (token) => {
    // One discovery for all callers; a failed one is tried again by the next call.
    keySet ??= discover().catch((err: unknown) => {
      keySet = undefined;
      throw err;
    });
    const { payload } = await jwtVerify<AccessTokenClaims>(token, await keySet, {
      issuer,
      audience: options.audience ?? "keel",
      typ: "at+jwt",
      algorithms,
      requiredClaims: ["exp", "iat", "sub", "sid"],
      ...(options.clockTolerance === undefined ? {} : { clockTolerance: options.clockTolerance }),
    });
    return payload;
  };
}
