package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/ws"
)

// sendToken sends a token message on c.
func sendToken(t *testing.T, c *websocket.Conn, tok string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"token","token":"`+tok+`"}`)); err != nil {
		t.Fatal(err)
	}
}

// deafReplica is a second Server over a's database that does not watch for
// announcements: a replica that missed them (its LISTEN connection down).
func deafReplica(t *testing.T, a *testAPI) *httptest.Server {
	t.Helper()
	keys, err := mfa.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := passkey.New(testPasskeyConfig)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(testConfig(), Deps{Log: a.srv.log, Store: a.store, Tokens: a.issuer(testJWTTTL, a.clock.Now), Keys: a.srv.keys,
		Refresh:   token.NewRefresher([]byte(testSecret)),
		Passwords: testPasswords(), Now: a.clock.Now, MFA: keys, Passkeys: rp})
	srv.UseJobs(a.jobs)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close(context.Background()) })
	return ts
}

// TestWebSocketSecondFactor is the scenario 5: a socket opened by a
// password-only session must not outlive the account's new second factor.
// Confirming a factor closes the account's aal1 sockets with 4004 within a
// second (on every replica that hears the announcement), but not the
// verifying session's nor another account's; a new handshake gets 403
// mfa-required; and a renewal re-checks the session's assurance, so a
// replica that missed the announcement closes the socket with 4004 at the
// next token message, and a token of an older level gets 4003.
func TestWebSocketSecondFactor(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	deaf := deafReplica(t, a)

	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	old := a.mustLoginPair("ada@example.com", "password123")
	oldWS := dialSession(t, wsURL(ts), old.Token, "ada@example.com")
	missedWS := dialSession(t, wsURL(deaf), old.Token, "ada@example.com")
	verifier := a.mustLogin("ada@example.com", "password123")
	verifierWS := dialSession(t, wsURL(ts), verifier, "ada@example.com")
	bobWS := dialSession(t, wsURL(ts), a.mustLogin("bob@example.com", "password123"), "bob@example.com")

	e := a.enroll(verifier)
	confirmed := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(verifier, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "confirm a factor"))
	ce := closedWith(t, oldWS, ws.StatusFactorRequired, sessionSocketDeadline)
	if ce.Reason != ws.ReasonFactorRequired {
		t.Errorf("reason %q, want %q", ce.Reason, ws.ReasonFactorRequired)
	}
	wantMFARequired(t, handshake(a, "bearer, "+old.Token), "a new handshake of the aal1 session")

	// The deaf replica heard nothing (its socket's reader would close it
	// on a timed-out read, so it is not read before): the renewal finds out.
	sendToken(t, missedWS, old.Token)
	closedWith(t, missedWS, ws.StatusFactorRequired, time.Second)

	// The verifying session's socket stays, and takes its new token; a
	// token of before its upgrade is refused.
	sendToken(t, verifierWS, confirmed.Tokens.Token)
	upgraded := dialSession(t, wsURL(ts), confirmed.Tokens.Token, "ada@example.com")
	sendToken(t, upgraded, verifier)
	closedWith(t, upgraded, ws.StatusTokenRefused, time.Second)
	stillOpen(t, verifierWS, 100*time.Millisecond)
	stillOpen(t, bobWS, 100*time.Millisecond)
}

// TestWebSocketLoweredSession: a socket opened at aal2 whose session is
// lowered since (the account's last factor removed) is not at aal2 any
// more: a factor added again closes it with 4004 like any aal1 socket,
// though the socket itself heard nothing of the lowering.
func TestWebSocketLoweredSession(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	_, codes, pair := a.mfaAccount("ada@example.com")
	lowered := dialSession(t, wsURL(ts), pair.Token, "ada@example.com")
	factors := decode[[]oapi.Factor](t, a.status(a.do("GET", "/mfa/factors", "", bearer(pair.Token)...), 200, "GET /mfa/factors"))
	a.status(a.do("DELETE", "/mfa/factors/"+factors[0].ID, jsonBody("recovery_code", codes[0]), bearer(pair.Token)...), 204, "remove the only factor")

	verifier := a.mustLogin("ada@example.com", "password123")
	e := a.enroll(verifier)
	a.status(a.verifyFactor(verifier, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "a factor again")
	closedWith(t, lowered, ws.StatusFactorRequired, sessionSocketDeadline)
}
