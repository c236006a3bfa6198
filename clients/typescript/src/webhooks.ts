// Checking keel's webhook deliveries in the app that receives them. keel signs each delivery the
// Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256 over
// `id.timestamp.body` with the endpoint's `whsec_…` secret), so the npm `standardwebhooks` library
// verifies it; this wraps it to take the headers in any of the shapes Node servers give them and to
// return the event typed. See docs/webhooks.md, "Verifying deliveries".
import { Webhook, WebhookVerificationError } from "standardwebhooks";

export { WebhookVerificationError };

/**
 * A delivery's body: `{type, timestamp, data}`. `timestamp` is when the event happened (RFC 3339), not
 * when it was sent; `data.sequence` increases per user, so a receiver can order what keel does not.
 */
export interface WebhookEvent {
  /** The event's type: `user.created`, `session.ended`, … (docs/webhooks.md lists them). */
  type: string;
  /** When it happened, RFC 3339. */
  timestamp: string;
  data: {
    /** The event's number in keel's events table: greater for a later event of the same user. */
    sequence: number;
    /** The user the event is about, when it is about one. */
    user_id?: number;
    /** Who did it: `user:<id>`, `admin:<id>`, `client:<client_id>`, `cli` or `system`. */
    actor?: string;
    [member: string]: unknown;
  };
}

/**
 * The request's headers: a fetch `Headers` (Request.headers in a Fetch-style handler), or a plain object
 * such as Node's `IncomingMessage.headers` (lower-case names, a value may be an array).
 */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

const names = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

/** The three Standard Webhooks headers, whatever shape the server gave them in. */
function webhookHeaders(headers: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers instanceof Headers) {
    for (const name of names) {
      const v = headers.get(name);
      if (v !== null) out[name] = v;
    }
    return out;
  }
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of names) {
    const v = lower.get(name);
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[name] = first;
  }
  return out;
}

/**
 * verifyWebhook checks a keel delivery with the endpoint's signing secret (`whsec_…`, shown once when the
 * endpoint was registered or its secret rotated) and returns its event. `body` must be the raw body as
 * received (a string or bytes): JSON parsed and serialized again is not what was signed. It throws
 * `WebhookVerificationError` when a header is missing, no `v1` signature matches (wrong secret, a changed
 * body, id or timestamp), or `webhook-timestamp` is more than five minutes from this machine's clock; and
 * a plain `Error` for a secret that is not one. During a secret rotation keel sends two signatures, so
 * either the old or the new secret verifies. keel delivers at least once and a retry keeps its
 * `webhook-id`: use it to skip an event already handled.
 *
 *   const event = verifyWebhook(process.env.KEEL_WEBHOOK_SECRET!, req.headers, rawBody);
 *   if (event.type === "user.deleted") await eraseUser(event.data.user_id);
 */
export function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array): WebhookEvent {
  const event = new Webhook(secret).verify(body, webhookHeaders(headers));
  if (typeof event !== "object" || event === null || typeof (event as { type?: unknown }).type !== "string") {
    throw new WebhookVerificationError("the body is not an event");
  }
  return event as WebhookEvent;
}
