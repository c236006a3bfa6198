package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// DefaultWebhookTolerance is how far a delivery's webhook-timestamp may be
// from this service's clock, either way: the Standard Webhooks libraries'
// five minutes.
const DefaultWebhookTolerance = 5 * time.Minute

// Errors that a refused delivery's error matches (with errors.Is).
var (
	// ErrInvalidWebhook: not a delivery signed with this secret (a header
	// missing or malformed, no signature that matches, or a timestamp outside
	// the tolerance): answer 400 or 401, and keel tries again later.
	ErrInvalidWebhook = errors.New("verify: invalid webhook")
	// ErrWebhookTimestamp: webhook-timestamp is further from now than the
	// tolerance (a replay, or a clock that is off). It matches
	// ErrInvalidWebhook too.
	ErrWebhookTimestamp = errors.New("verify: webhook timestamp outside the tolerance")
)

// webhookRefused is a refused delivery's error.
type webhookRefused struct {
	reason    string
	timestamp bool
}

func (e *webhookRefused) Error() string { return "verify: invalid webhook: " + e.reason }

func (e *webhookRefused) Is(target error) bool {
	return target == ErrInvalidWebhook || (e.timestamp && target == ErrWebhookTimestamp)
}

func refuseWebhook(reason string) error { return &webhookRefused{reason: reason} }

// The Standard Webhooks headers keel sends with each delivery.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// webhookSecretPrefix marks a Standard Webhooks symmetric secret; what
// follows it is the HMAC key in base64.
const webhookSecretPrefix = "whsec_"

// WebhookVerifier checks keel's webhook deliveries to one endpoint (Standard
// Webhooks, symmetric: HMAC-SHA256 with the endpoint's secret over
// webhook-id "." webhook-timestamp "." body). It is safe for concurrent use;
// make one per endpoint secret and keep it.
type WebhookVerifier struct {
	key       []byte
	tolerance time.Duration
	now       func() time.Time
}

// A WebhookOption changes one of NewWebhookVerifier's defaults.
type WebhookOption func(*WebhookVerifier)

// WithTolerance sets how far webhook-timestamp may be from now, either way
// (DefaultWebhookTolerance). Each attempt, a retry too, is signed afresh
// with its own timestamp, so this bounds only how long a captured delivery
// can be replayed and how far the clocks may differ.
func WithTolerance(d time.Duration) WebhookOption {
	return func(v *WebhookVerifier) { v.tolerance = max(d, 0) }
}

// WithWebhookClock sets the clock timestamps are compared with (time.Now),
// for tests.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(v *WebhookVerifier) {
		if now != nil {
			v.now = now
		}
	}
}

// NewWebhookVerifier returns a verifier of deliveries signed with secret, the
// endpoint's signing secret as keel showed it when the endpoint was made or
// its secret rotated: "whsec_" and the key in base64 (the prefix may be left
// out). An error here is a secret that cannot be one.
//
// During a rotation keel signs each delivery with the old and the new secret
// (two signatures in webhook-signature), so a verifier holding either one
// accepts it: switch to the new secret any time before the rotation ends.
func NewWebhookVerifier(secret string, opts ...WebhookOption) (*WebhookVerifier, error) {
	key, err := decodeWebhookSecret(secret)
	if err != nil {
		return nil, err
	}
	v := &WebhookVerifier{key: key, tolerance: DefaultWebhookTolerance, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// decodeWebhookSecret turns "whsec_<base64>" into the HMAC key. Padding is
// optional, as the Standard Webhooks libraries take it.
func decodeWebhookSecret(secret string) ([]byte, error) {
	b64 := strings.TrimRight(strings.TrimPrefix(strings.TrimSpace(secret), webhookSecretPrefix), "=")
	key, err := base64.RawStdEncoding.DecodeString(b64)
	switch {
	case err != nil:
		return nil, errors.New("verify: the webhook secret is not whsec_ and base64")
	case len(key) == 0:
		return nil, errors.New("verify: empty webhook secret")
	}
	return key, nil
}

// Verify checks a delivery: header is the request's header and body its raw
// bytes, exactly as received (read the body before parsing it: JSON parsed
// and encoded again is not the body that was signed). It returns nil when
// one of webhook-signature's "v1,<base64>" signatures is this secret's HMAC
// of the webhook-id, webhook-timestamp and body, compared in constant time,
// and webhook-timestamp is within the tolerance of now; otherwise an error
// that matches ErrInvalidWebhook (and ErrWebhookTimestamp for a timestamp
// out of tolerance).
//
// A verified delivery may still be one already handled (keel delivers at
// least once, and a retry keeps its webhook-id): use webhook-id as an
// idempotency key.
func (v *WebhookVerifier) Verify(header http.Header, body []byte) error {
	id := headerValue(header, HeaderWebhookID)
	ts := headerValue(header, HeaderWebhookTimestamp)
	sigs := headerValue(header, HeaderWebhookSignature)
	switch {
	case id == "":
		return refuseWebhook("no webhook-id")
	case ts == "":
		return refuseWebhook("no webhook-timestamp")
	case sigs == "":
		return refuseWebhook("no webhook-signature")
	}
	at, ok := parseUnixSeconds(ts)
	if !ok {
		return refuseWebhook("webhook-timestamp is not seconds since the epoch")
	}
	now := v.now()
	if d := now.Sub(at); d > v.tolerance || d < -v.tolerance {
		return &webhookRefused{reason: "webhook-timestamp " + ts + " is further than " + v.tolerance.String() + " from now", timestamp: true}
	}
	mac := hmac.New(sha256.New, v.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	// Space-separated "v1,<base64>" signatures: two during a rotation. Other
	// schemes (v1a, an asymmetric one) are not keel's and are skipped.
	for _, s := range strings.Fields(sigs) {
		scheme, b64, ok := strings.Cut(s, ",")
		if !ok || scheme != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return refuseWebhook("no signature matches")
}

// headerValue is header's first value of name, under its canonical key
// (as net/http stores a request's) or, in a header built by hand, the
// lower-case one the spec spells.
func headerValue(header http.Header, name string) string {
	if v := header.Get(name); v != "" {
		return v
	}
	if vs := header[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// parseUnixSeconds reads webhook-timestamp: decimal digits only (no sign,
// no fraction), since the signature is over the header's very text.
func parseUnixSeconds(s string) (time.Time, bool) {
	if len(s) > 12 { // beyond the year 33658: not a timestamp keel sends
		return time.Time{}, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0), true
}

// Webhook checks one delivery with secret at now: NewWebhookVerifier and
// Verify in one call, with DefaultWebhookTolerance. An error that does not
// match ErrInvalidWebhook is a secret that cannot be one.
func Webhook(secret string, header http.Header, body []byte, now time.Time) error {
	v, err := NewWebhookVerifier(secret, WithWebhookClock(func() time.Time { return now }))
	if err != nil {
		return err
	}
	return v.Verify(header, body)
}
