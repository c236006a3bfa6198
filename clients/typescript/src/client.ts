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
/** An RFC 9457 problem: the body of every keel error (`application/problem+json`). */
export type Problem = Schemas["Problem"];
export type FieldError = Schemas["FieldError"];

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
