package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/webhooks"
)

// python3 is a Python 3 interpreter (the standard library is all that
// examples/webhooks/verify.py needs). The test skips without one, except in
// CI, where it must run.
func python3(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(py); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3")
	}
	t.Skip("no python3")
	return ""
}

// webhookDelivery is what a receiver sees of one delivery: its three
// Standard Webhooks headers and its body.
type webhookDelivery struct {
	id, timestamp, signature string
	body                     []byte
}

// pyCheck runs examples/webhooks/verify.py check on d with secret, its clock
// at now (0: the machine's). It returns the event the script printed, or
// the reason it refused on standard error.
func pyCheck(t *testing.T, py, secret string, d webhookDelivery, now int64) (map[string]any, string, error) {
	t.Helper()
	script, err := filepath.Abs("../../examples/webhooks/verify.py")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{script}
	if now != 0 {
		args = append(args, "--now", strconv.FormatInt(now, 10))
	}
	args = append(args, "check", secret, d.id, d.timestamp, d.signature)
	cmd := exec.CommandContext(t.Context(), py, args...)
	cmd.Stdin = strings.NewReader(string(d.body))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), err
	}
	var event map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &event); err != nil {
		return nil, stdout.String(), err
	}
	return event, "", nil
}

// TestWebhookVerifyFromPython: examples/webhooks/verify.py, Python's
// standard library alone (hmac, base64, time), verifies a delivery signed
// by keel's signer (internal/webhooks) and prints its event; it refuses it
// with another secret, when its timestamp is more than five minutes old,
// and with a changed body; during a rotation (two signatures) both secrets
// verify.
func TestWebhookVerifyFromPython(t *testing.T) {
	t.Parallel()
	py := python3(t)
	oldKey, newKey, otherKey := webhooks.NewSecret(), webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"type":"user.created","timestamp":"2026-12-07T06:00:00.123Z","data":{"user_id":"7","sequence":1,"method":"register"}}`)
	at := time.Now()
	sign := func(keys ...[]byte) webhookDelivery {
		h := webhooks.Headers(keys, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at, body)
		return webhookDelivery{h[webhooks.HeaderID], h[webhooks.HeaderTimestamp], h[webhooks.HeaderSignature], body}
	}
	one, rotating := sign(oldKey), sign(newKey, oldKey)
	changed := one
	changed.body = []byte(strings.Replace(string(body), `"7"`, `"8"`, 1))

	for _, tc := range []struct {
		name     string
		key      []byte
		delivery webhookDelivery
		now      int64
		refusal  string // "": verifies
	}{
		{"signed with the secret", oldKey, one, 0, ""},
		{"rotation: the old secret", oldKey, rotating, 0, ""},
		{"rotation: the new secret", newKey, rotating, 0, ""},
		{"another secret", otherKey, one, 0, "no signature matches"},
		{"rotation: another secret", otherKey, rotating, 0, "no signature matches"},
		{"a changed body", oldKey, changed, 0, "no signature matches"},
		{"5m1s old", oldKey, one, at.Unix() + 301, "more than 300 s from now"},
		{"5m1s ahead", oldKey, one, at.Unix() - 301, "more than 300 s from now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			event, why, err := pyCheck(t, py, webhooks.EncodeSecret(tc.key), tc.delivery, tc.now)
			if tc.refusal == "" {
				if err != nil {
					t.Fatalf("refused: %v %s", err, why)
				}
				if event["type"] != "user.created" {
					t.Errorf("event: %v", event)
				}
				return
			}
			if err == nil || !strings.Contains(why, tc.refusal) {
				t.Fatalf("got %v %q %v, want a refusal: %s", event, why, err, tc.refusal)
			}
		})
	}
}
