"""Verify keel's webhook deliveries with Python's standard library alone.

keel signs each delivery the Standard Webhooks way: HMAC-SHA256, keyed with
the endpoint's secret (base64 after "whsec_"), over
webhook-id "." webhook-timestamp "." body, sent as "v1,<base64>" in
webhook-signature (two, space-separated, during a secret rotation).

Check one delivery (the body on standard input); prints the event as JSON
and exits 0, or exits 1 with the reason:

    python3 verify.py check SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body

Receive deliveries (an endpoint to register with keel: http://HOST:PORT/);
prints each verified event as a line of JSON and answers 204, or 401:

    KEEL_WEBHOOK_SECRET=whsec_... python3 verify.py serve [--port 8000]

--now SECONDS (either mode) checks the timestamp against that clock rather
than this machine's, for tests.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

TOLERANCE = 5 * 60  # seconds either way, as the Standard Webhooks libraries


class WebhookError(Exception):
    """The delivery is not one signed with this secret, or is too old or new."""


def secret_key(secret):
    """The HMAC key of a "whsec_<base64>" secret (the padding may be left out)."""
    b64 = secret.strip()
    if b64.startswith("whsec_"):
        b64 = b64[len("whsec_"):]
    try:
        key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except ValueError:
        raise ValueError("the secret is not whsec_ and base64") from None
    if not key:
        raise ValueError("empty secret")
    return key


def verify_webhook(secret, headers, body, now=None, tolerance=TOLERANCE):
    """Return the event of a delivery (headers: a mapping, any case; body: the
    raw bytes as received), or raise WebhookError."""
    key = secret_key(secret)
    h = {k.lower(): v for k, v in headers.items()}
    msg_id = h.get("webhook-id", "")
    ts = h.get("webhook-timestamp", "")
    sigs = h.get("webhook-signature", "")
    if not (msg_id and ts and sigs):
        raise WebhookError("a webhook-id, webhook-timestamp or webhook-signature header is missing")
    # Digits only: the signature is over the header's very text.
    if not (ts.isascii() and ts.isdigit()):
        raise WebhookError("webhook-timestamp is not seconds since the epoch")
    now = time.time() if now is None else now
    if abs(now - int(ts)) > tolerance:
        raise WebhookError("webhook-timestamp is more than %d s from now" % tolerance)
    want = hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body), hashlib.sha256).digest()
    for sig in sigs.split():
        scheme, _, b64 = sig.partition(",")
        if scheme != "v1":
            continue  # another scheme (v1a): not keel's
        try:
            got = base64.b64decode(b64, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(got, want):  # constant time
            return json.loads(body)
    raise WebhookError("no signature matches")


def serve(secret, port, now):
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            # The raw body, before any JSON parsing: that is what was signed.
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                event = verify_webhook(secret, dict(self.headers.items()), body, now)
            except (WebhookError, ValueError) as e:
                self.send_error(401, str(e))
                return
            # webhook-id is the same on each attempt: skip one already handled.
            print(json.dumps({"webhook-id": self.headers["webhook-id"], "event": event}), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver) as srv:
        print("listening on http://127.0.0.1:%d/" % srv.server_address[1], file=sys.stderr, flush=True)
        srv.serve_forever()


def main():
    p = argparse.ArgumentParser(description="Verify keel's webhook deliveries.")
    p.add_argument("--now", type=float, help="the clock, in seconds since the epoch (tests)")
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("check", help="check one delivery; the body on standard input")
    for name in ("secret", "webhook_id", "webhook_timestamp", "webhook_signature"):
        c.add_argument(name)
    s = sub.add_parser("serve", help="receive deliveries; the secret in KEEL_WEBHOOK_SECRET")
    s.add_argument("--port", type=int, default=8000)
    args = p.parse_args()
    if args.mode == "serve":
        serve(os.environ["KEEL_WEBHOOK_SECRET"], args.port, args.now)
        return
    headers = {
        "webhook-id": args.webhook_id,
        "webhook-timestamp": args.webhook_timestamp,
        "webhook-signature": args.webhook_signature,
    }
    try:
        event = verify_webhook(args.secret, headers, sys.stdin.buffer.read(), args.now)
    except (WebhookError, ValueError) as e:
        print("refused: %s" % e, file=sys.stderr)
        sys.exit(1)
    print(json.dumps(event))


if __name__ == "__main__":
    main()
