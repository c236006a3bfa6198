package verify_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/webhooks"
	"github.com/keelhq/keel/verify"
)

// keelDelivery is a delivery's header as keel's own signer
// (internal/webhooks) makes it, with one signature per key.
func keelDelivery(keys [][]byte, id string, at time.Time, body []byte) http.Header {
	h := http.Header{}
	for k, v := range webhooks.Headers(keys, id, at, body) {
		h.Set(k, v)
	}
	return h
}

// TestWebhookKeelSigner: what keel's signer sends, verify.Webhook accepts
// with the endpoint's secret as keel shows it (whsec_…), and with either
// secret during a rotation; it refuses it with another secret, and when
// the timestamp is more than the tolerance old. The test of the wire: the
// signer and the verifier are written apart, so a difference between them
// (base64 flavour, separator, key decoding) shows here.
func TestWebhookKeelSigner(t *testing.T) {
	t.Parallel()
	oldKey, newKey, otherKey := webhooks.NewSecret(), webhooks.NewSecret(), webhooks.NewSecret()
	oldSecret, newSecret, otherSecret := webhooks.EncodeSecret(oldKey), webhooks.EncodeSecret(newKey), webhooks.EncodeSecret(otherKey)
	body := []byte(`{"type":"user.created","timestamp":"2026-12-07T06:00:00.123Z","data":{"user_id":"7","sequence":1,"method":"register"}}`)
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	one := keelDelivery([][]byte{oldKey}, "msg_1", at, body)
	rotating := keelDelivery([][]byte{newKey, oldKey}, "msg_1", at, body)

	for _, tc := range []struct {
		name   string
		secret string
		header http.Header
		now    time.Time
		want   error
	}{
		{"one secret", oldSecret, one, at, nil},
		{"one secret, a minute later", oldSecret, one, at.Add(time.Minute), nil},
		{"rotation: the old secret", oldSecret, rotating, at, nil},
		{"rotation: the new secret", newSecret, rotating, at, nil},
		{"another secret", otherSecret, one, at, verify.ErrInvalidWebhook},
		{"rotation: another secret", otherSecret, rotating, at, verify.ErrInvalidWebhook},
		{"the new secret before the rotation", newSecret, one, at, verify.ErrInvalidWebhook},
		{"6 minutes old", oldSecret, one, at.Add(6 * time.Minute), verify.ErrWebhookTimestamp},
		{"6 minutes ahead", oldSecret, one, at.Add(-6 * time.Minute), verify.ErrWebhookTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := verify.Webhook(tc.secret, tc.header, body, tc.now)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
