package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/verify"
)

// signWebhook is a Standard Webhooks v1 signature written from the spec, not
// from verify's code: "v1," + base64(HMAC-SHA256(key, id.timestamp.body)),
// the key being the secret's base64 after "whsec_".
func signWebhook(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	b64 := strings.TrimPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func webhookHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	return h
}

// TestWebhookSpecVectors: the signatures the Standard Webhooks libraries'
// own tests publish verify, with the secret as given, without its whsec_
// prefix and without its base64 padding; one bit off in any part does not.
func TestWebhookSpecVectors(t *testing.T) {
	t.Parallel()
	vectors := []struct {
		name, secret, id string
		ts               int64
		body, sig        string
	}{
		{ // libraries/{go,python,javascript,...} test_sign
			name: "sign-function", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			id: "msg_p5jXN8AQM9LWM0D4loKWxJek", ts: 1614265330,
			body: `{"test": 2432232314}`, sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		},
		{ // libraries/rust test_sign
			name: "rust", secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
			id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", ts: 1649367553,
			body: `{"email":"test@example.com","username":"test_user"}`, sig: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
		},
	}
	for _, vec := range vectors {
		t.Run(vec.name, func(t *testing.T) {
			t.Parallel()
			if got := signWebhook(t, vec.secret, vec.id, vec.ts, []byte(vec.body)); got != vec.sig {
				t.Fatalf("the test's own signer gives %s, the spec's vector %s", got, vec.sig)
			}
			now := time.Unix(vec.ts, 0).Add(time.Minute)
			ts := strconv.FormatInt(vec.ts, 10)
			bare := strings.TrimPrefix(vec.secret, "whsec_")
			for _, secret := range []string{vec.secret, bare, strings.TrimRight(bare, "=")} {
				if err := verify.Webhook(secret, webhookHeader(vec.id, ts, vec.sig), []byte(vec.body), now); err != nil {
					t.Errorf("secret %q: %v", secret, err)
				}
			}
			// Lower-case keys, as a header map built by hand (not by net/http) has them.
			lower := http.Header{"webhook-id": {vec.id}, "webhook-timestamp": {ts}, "webhook-signature": {vec.sig}}
			if err := verify.Webhook(vec.secret, lower, []byte(vec.body), now); err != nil {
				t.Errorf("lower-case header keys: %v", err)
			}
			for name, h := range map[string]http.Header{
				"id":        webhookHeader(vec.id+"x", ts, vec.sig),
				"timestamp": webhookHeader(vec.id, strconv.FormatInt(vec.ts+1, 10), vec.sig),
			} {
				if err := verify.Webhook(vec.secret, h, []byte(vec.body), now); !errors.Is(err, verify.ErrInvalidWebhook) {
					t.Errorf("another %s: %v", name, err)
				}
			}
			if err := verify.Webhook(vec.secret, webhookHeader(vec.id, ts, vec.sig), []byte(vec.body+" "), now); !errors.Is(err, verify.ErrInvalidWebhook) {
				t.Errorf("another body: %v", err)
			}
		})
	}
}

// TestWebhookVerify: a delivery verifies with its endpoint's secret within
// the tolerance, and with either secret during a rotation (two signatures);
// a wrong secret, a tampered body, id or timestamp, a missing header, a
// timestamp older or newer than the tolerance and a signature in another
// scheme are refused.
func TestWebhookVerify(t *testing.T) {
	t.Parallel()
	const (
		secret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		rotated = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
		other   = "whsec_dGhpcyBpcyBub3QgdGhlIGVuZHBvaW50J3Mgc2VjcmV0"
		id      = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	)
	body := []byte(`{"type":"user.created","timestamp":"2026-12-07T06:00:00Z","data":{"user_id":"1","sequence":1}}`)
	sent := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(sent.Unix(), 10)
	good := signWebhook(t, secret, id, sent.Unix(), body)
	both := signWebhook(t, secret, id, sent.Unix(), body) + " " + signWebhook(t, rotated, id, sent.Unix(), body)
	sigBytes := strings.TrimPrefix(good, "v1,")

	cases := []struct {
		name    string
		secret  string
		header  http.Header
		body    []byte
		now     time.Time
		wantErr error // nil: verifies
	}{
		{name: "signed with the secret", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent},
		{name: "4m59s late", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(4*time.Minute + 59*time.Second)},
		{name: "5m late (the bound)", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(5 * time.Minute)},
		{name: "clock 5m behind (the bound)", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(-5 * time.Minute)},
		{name: "rotation: old secret", secret: secret, header: webhookHeader(id, ts, both), body: body, now: sent},
		{name: "rotation: new secret", secret: rotated, header: webhookHeader(id, ts, both), body: body, now: sent},
		{name: "among unknown schemes and garbage", secret: secret, header: webhookHeader(id, ts, "v1a,"+sigBytes+" v2,x v1,!!! "+good+" v1"), body: body, now: sent},

		{name: "wrong secret", secret: other, header: webhookHeader(id, ts, good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "rotation: a third secret", secret: other, header: webhookHeader(id, ts, both), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "tampered body", secret: secret, header: webhookHeader(id, ts, good), body: []byte(strings.Replace(string(body), `"1"`, `"2"`, 1)), now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "body re-encoded (a space added)", secret: secret, header: webhookHeader(id, ts, good), body: append(append([]byte{}, body...), '\n'), now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "empty body", secret: secret, header: webhookHeader(id, ts, good), body: nil, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "another id", secret: secret, header: webhookHeader("msg_other", ts, good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "timestamp changed", secret: secret, header: webhookHeader(id, strconv.FormatInt(sent.Unix()+60, 10), good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "5m1s late: old", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(5*time.Minute + time.Second), wantErr: verify.ErrWebhookTimestamp},
		{name: "a day late: old", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(24 * time.Hour), wantErr: verify.ErrWebhookTimestamp},
		{name: "5m1s ahead: future", secret: secret, header: webhookHeader(id, ts, good), body: body, now: sent.Add(-5*time.Minute - time.Second), wantErr: verify.ErrWebhookTimestamp},
		{name: "no webhook-id", secret: secret, header: webhookHeader("", ts, good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "no webhook-timestamp", secret: secret, header: webhookHeader(id, "", good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "no webhook-signature", secret: secret, header: webhookHeader(id, ts, ""), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "no headers", secret: secret, header: http.Header{}, body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "timestamp with a sign", secret: secret, header: webhookHeader(id, "+"+ts, good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "timestamp with a fraction", secret: secret, header: webhookHeader(id, ts+".0", good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "timestamp in milliseconds", secret: secret, header: webhookHeader(id, ts+"000", good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "timestamp huge", secret: secret, header: webhookHeader(id, "99999999999999999999999", good), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "same bytes, scheme v1a", secret: secret, header: webhookHeader(id, ts, "v1a,"+sigBytes), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "no scheme", secret: secret, header: webhookHeader(id, ts, sigBytes), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "v1, alone", secret: secret, header: webhookHeader(id, ts, "v1,"), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "truncated signature", secret: secret, header: webhookHeader(id, ts, good[:20]), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
		{name: "signature without padding", secret: secret, header: webhookHeader(id, ts, strings.TrimRight(good, "=")), body: body, now: sent, wantErr: verify.ErrInvalidWebhook},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := verify.Webhook(tc.secret, tc.header, tc.body, tc.now)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %v, want an error matching %v", err, tc.wantErr)
			case tc.wantErr != nil && !errors.Is(err, verify.ErrInvalidWebhook):
				t.Fatalf("%v does not match ErrInvalidWebhook", err)
			case errors.Is(tc.wantErr, verify.ErrInvalidWebhook) && errors.Is(err, verify.ErrWebhookTimestamp):
				t.Fatalf("%v matches ErrWebhookTimestamp, but the timestamp is within the tolerance", err)
			}
		})
	}
}

// TestWebhookVerifierOptions: the tolerance and clock options, and secrets
// that cannot be one refused when the verifier is made, not on a delivery.
func TestWebhookVerifierOptions(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{}`)
	sent := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	h := webhookHeader("msg_1", strconv.FormatInt(sent.Unix(), 10), signWebhook(t, secret, "msg_1", sent.Unix(), body))

	now := sent.Add(2 * time.Minute)
	clock := func() time.Time { return now }
	v, err := verify.NewWebhookVerifier(secret, verify.WithTolerance(time.Minute), verify.WithWebhookClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, body); !errors.Is(err, verify.ErrWebhookTimestamp) {
		t.Errorf("2 minutes late with a minute's tolerance: %v", err)
	}
	now = sent.Add(59 * time.Second)
	if err := v.Verify(h, body); err != nil {
		t.Errorf("59 s late with a minute's tolerance: %v", err)
	}
	def, err := verify.NewWebhookVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := def.Verify(h, body); !errors.Is(err, verify.ErrWebhookTimestamp) {
		t.Errorf("signed in 2026-12-07T06:00Z, verified on the real clock: %v", err)
	}

	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_===="} {
		if _, err := verify.NewWebhookVerifier(bad); err == nil {
			t.Errorf("secret %q taken", bad)
		}
		if err := verify.Webhook(bad, h, body, sent); err == nil || errors.Is(err, verify.ErrInvalidWebhook) {
			t.Errorf("secret %q: %v, want a secret error (not ErrInvalidWebhook)", bad, err)
		}
	}
}
