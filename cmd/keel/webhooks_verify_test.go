package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/testutil"
	"github.com/keelhq/keel/internal/webhooks"
	"github.com/keelhq/keel/verify"
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

// receiver records keel's deliveries and answers each 204.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []webhookDelivery
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, webhookDelivery{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// wait returns the first delivery of an event of type typ.
func (rc *receiver) wait(t *testing.T, typ string) webhookDelivery {
	t.Helper()
	var d webhookDelivery
	waitUntil(t, 30*time.Second, "a "+typ+" delivery", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, g := range rc.got {
			var ev struct{ Type string }
			if json.Unmarshal(g.body, &ev) == nil && ev.Type == typ {
				d = g
				return true
			}
		}
		return false
	})
	return d
}

func (d webhookDelivery) header() http.Header {
	h := http.Header{}
	h.Set("webhook-id", d.id)
	h.Set("webhook-timestamp", d.timestamp)
	h.Set("webhook-signature", d.signature)
	return h
}

// keelCommand runs keel's CLI (run with args) with env, returning what it
// printed.
func keelCommand(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out strings.Builder
	if err := run(t.Context(), args, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("keel %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestWebhookVerifyRealDelivery: a running keel's deliveries, to an
// endpoint registered with keel webhooks create, verify with the secret the
// CLI printed in the verify package (verify.Webhook) and in
// examples/webhooks/verify.py, both as a check of the recorded delivery and
// as the receiver itself (its serve mode gets the event and answers 204);
// another secret and a clock six minutes on fail each; after keel webhooks
// rotate, a delivery carries two signatures and both secrets verify it, in
// Go and in Python. Both engines.
func TestWebhookVerifyRealDelivery(t *testing.T) {
	t.Parallel()
	py := python3(t)
	for _, engine := range []string{engineSQLite, enginePostgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dbURL := filepath.Join(t.TempDir(), "data", "keel.db")
			if engine == enginePostgres {
				dbURL = pgtest.NewDatabase(t)
			}
			testWebhookVerifyRealDelivery(t, py, dbURL)
		})
	}
}

func testWebhookVerifyRealDelivery(t *testing.T, py, dbURL string) {
	env := map[string]string{
		"DATABASE_URL":           dbURL,
		"JWT_SECRET":             testSecret,
		"KEYS_KEK":               testKEK,
		"WEBHOOKS_ALLOW_PRIVATE": "true",
		"WEBHOOKS_RETRY_MIN":     "100ms",
		"AUTH_RATE_LIMIT":        "0",
	}
	secretRe := regexp.MustCompile(`secret: (whsec_\S+)`)
	idRe := regexp.MustCompile(`id: +(\S+)`)
	rc := newReceiver(t)
	out := keelCommand(t, env, "webhooks", "create", "--url", rc.URL+"/hooks", "--event", "user.created,session.created")
	secret, id := secretRe.FindStringSubmatch(out), idRe.FindStringSubmatch(out)
	if secret == nil || id == nil {
		t.Fatalf("keel webhooks create printed %q", out)
	}

	// Python as the receiver: verify.py serve on a port picked beforehand
	// (its endpoint must name it), with the secret of its own endpoint.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pyPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out = keelCommand(t, env, "webhooks", "create", "--url", "http://127.0.0.1:"+strconv.Itoa(pyPort)+"/", "--event", "user.created")
	pySecret := secretRe.FindStringSubmatch(out)
	if pySecret == nil {
		t.Fatalf("keel webhooks create printed %q", out)
	}
	script, err := filepath.Abs("../../examples/webhooks/verify.py")
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.CommandContext(t.Context(), py, script, "serve", "--port", strconv.Itoa(pyPort))
	serve.Env = append(os.Environ(), "KEEL_WEBHOOK_SECRET="+pySecret[1])
	var pyOut, pyErr testutil.SyncBuffer
	serve.Stdout, serve.Stderr = &pyOut, &pyErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	waitUntil(t, 10*time.Second, "verify.py serve listening", func() bool { return strings.Contains(pyErr.String(), "listening") })

	addr, _, _ := start(t, env)
	hc := checkedClient(t, 10*time.Second, nil)
	if code, body, err := post(t.Context(), hc, "http://"+addr+"/register", creds("ada@example.com", "password123")); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v %s", code, err, body)
	}
	created := rc.wait(t, "user.created")
	if err := verify.Webhook(secret[1], created.header(), created.body, time.Now()); err != nil {
		t.Errorf("verify.Webhook: keel's delivery refused: %v", err)
	}
	other := webhooks.EncodeSecret(webhooks.NewSecret())
	if err := verify.Webhook(other, created.header(), created.body, time.Now()); !errors.Is(err, verify.ErrInvalidWebhook) {
		t.Errorf("verify.Webhook, another secret: %v", err)
	}
	if err := verify.Webhook(secret[1], created.header(), created.body, time.Now().Add(6*time.Minute)); !errors.Is(err, verify.ErrWebhookTimestamp) {
		t.Errorf("verify.Webhook, six minutes on: %v", err)
	}
	ts, _ := strconv.ParseInt(created.timestamp, 10, 64)
	if event, why, err := pyCheck(t, py, secret[1], created, 0); err != nil || event["type"] != "user.created" {
		t.Errorf("verify.py check: %v %v %s", event, err, why)
	}
	if _, why, err := pyCheck(t, py, other, created, 0); err == nil || !strings.Contains(why, "no signature matches") {
		t.Errorf("verify.py check, another secret: %v %s", err, why)
	}
	if _, why, err := pyCheck(t, py, secret[1], created, ts+360); err == nil || !strings.Contains(why, "more than 300 s") {
		t.Errorf("verify.py check, six minutes on: %v %s", err, why)
	}
	waitUntil(t, 30*time.Second, "verify.py serve verified the user.created delivery", func() bool {
		return strings.Contains(pyOut.String(), `"type": "user.created"`)
	})

	// A rotation: the old secret keeps signing beside the new one.
	out = keelCommand(t, env, "webhooks", "rotate", id[1])
	rotated := secretRe.FindStringSubmatch(out)
	if rotated == nil {
		t.Fatalf("keel webhooks rotate printed %q", out)
	}
	if code, body, err := post(t.Context(), hc, "http://"+addr+"/login", creds("ada@example.com", "password123")); err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v %s", code, err, body)
	}
	signedIn := rc.wait(t, "session.created")
	if n := len(strings.Fields(signedIn.signature)); n != 2 {
		t.Fatalf("webhook-signature during the rotation %q: %d signatures, want 2", signedIn.signature, n)
	}
	for _, s := range []string{secret[1], rotated[1]} {
		if err := verify.Webhook(s, signedIn.header(), signedIn.body, time.Now()); err != nil {
			t.Errorf("verify.Webhook during the rotation: %v", err)
		}
		if event, why, err := pyCheck(t, py, s, signedIn, 0); err != nil || event["type"] != "session.created" {
			t.Errorf("verify.py during the rotation: %v %v %s", event, err, why)
		}
	}
	if err := verify.Webhook(other, signedIn.header(), signedIn.body, time.Now()); !errors.Is(err, verify.ErrInvalidWebhook) {
		t.Errorf("verify.Webhook during the rotation, a third secret: %v", err)
	}
}
