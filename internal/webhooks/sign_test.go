package webhooks_test

import (
	"testing"
	"time"

	"github.com/keelhq/keel/internal/webhooks"
)

// TestSignStandardWebhooksVector: the signature of the Standard Webhooks
// specification's own example (its libraries' test vector), so a receiver
// using any of them verifies what keel sends.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := webhooks.DecodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	got := webhooks.Signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Signature = %s, want %s", got, want)
	}
}

// TestSignRotation: during a rotation the header carries one signature per
// secret, space-separated, each verifiable on its own.
func TestSignRotation(t *testing.T) {
	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"type":"user.created"}`)
	got := webhooks.Sign([][]byte{a, b}, "msg_1", ts, body)
	want := webhooks.Signature(a, "msg_1", ts, body) + " " + webhooks.Signature(b, "msg_1", ts, body)
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	for _, k := range [][]byte{a, b} {
		round, err := webhooks.DecodeSecret(webhooks.EncodeSecret(k))
		if err != nil || string(round) != string(k) {
			t.Errorf("EncodeSecret/DecodeSecret round trip: %v", err)
		}
	}
	if _, err := webhooks.DecodeSecret("whsec_not base64!"); err == nil {
		t.Error("DecodeSecret took a secret that is not base64")
	}
}
