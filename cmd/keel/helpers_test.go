package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/contract"
)

// spec is the contract the real binary's answers are checked against.
var spec = func() *contract.Validator {
	v, err := contract.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// checkedClient is an http.Client over base (http.DefaultTransport when nil)
// that checks every response against the spec and reports any that is off
// it, or a 500, to t.
func checkedClient(t testing.TB, timeout time.Duration, base http.RoundTripper) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &contract.Transport{V: spec, Base: base, Fail: t.Errorf}}
}

// verifyEmail proves email's address as its owner does: it waits for the
// verification mail in the console mailer's log line of any of ps (whichever
// replica ran the job) and posts its token to POST /email/verify on ps[0]
// from token's session (an access token of that account). TOTP, passkeys and
// linked identities need a proved address.
func verifyEmail(ctx context.Context, t *testing.T, hc *http.Client, ps []*proc, email, token string) {
	t.Helper()
	tok := mailedToken(t, ps, email, "Confirm")
	if code, body := postOn(ctx, t, hc, ps[0], "/email/verify", token, `{"token":"`+tok+`"}`); code != http.StatusNoContent {
		t.Fatalf("verify %s: %d %s", email, code, body)
	}
}

// mailToken is the token of a link in a mail's text.
var mailToken = regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`)

// mailedToken waits for the console mailer's mail to `to` whose subject
// holds subject in the output of any of ps, and returns its token.
func mailedToken(t *testing.T, ps []*proc, to, subject string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range ps {
			for _, line := range strings.Split(p.stdout.String(), "\n") {
				var rec struct{ Msg, To, Subject, Text string }
				if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "email") || rec.To != to || !strings.Contains(rec.Subject, subject) {
					continue
				}
				if m := mailToken.FindStringSubmatch(rec.Text); m != nil {
					return m[1]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no mail %q to %s within 30 s", subject, to)
	return ""
}
