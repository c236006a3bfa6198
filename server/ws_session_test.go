package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/testutil"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/ws"
)

// sessionSocketDeadline is the promise: a socket closes within a second of
// its session ending.
const sessionSocketDeadline = time.Second

// wsURL is the ws:// address of ts's /ws.
func wsURL(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws" }

// dialSession opens /ws with tok as the bearer subprotocol and reads the
// greeting, which must name email.
func dialSession(t *testing.T, url, tok, email string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{ws.BearerProtocol, tok}})
	if err != nil {
		t.Fatalf("dial with a token: %v (%v)", err, res)
	}
	t.Cleanup(func() { c.CloseNow() })
	if got := c.Subprotocol(); got != ws.BearerProtocol {
		t.Errorf("subprotocol %q, want %q (never the token)", got, ws.BearerProtocol)
	}
	if typ, msg, err := c.Read(ctx); err != nil || typ != websocket.MessageText || string(msg) != userGreeting(email) {
		t.Fatalf("greeting %v %q %v, want %q", typ, msg, err, userGreeting(email))
	}
	return c
}

// closedWith reads c until it closes and checks the close code came within
// d; it returns the close error.
func closedWith(t *testing.T, c *websocket.Conn, code websocket.StatusCode, d time.Duration) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, msg, err := c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("after %s: %q %v, want close %d", d, msg, err, code)
	}
	return ce
}

// stillOpen checks c gets no frame (and no close) for d.
func stillOpen(t *testing.T, c *websocket.Conn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, msg, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("socket closed or spoke within %s: %q %v", d, msg, err)
	}
}

// handshake is a WebSocket handshake through the recorder (checked against
// the spec), with Sec-WebSocket-Protocol protocols.
func handshake(a *testAPI, protocols string) *httptest.ResponseRecorder {
	return a.do("GET", "/ws", "", "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol", protocols)
}

// TestWebSocketSession: a token in the bearer subprotocol opens a socket
// that greets its user; a bad token or ended session is refused with 401
// before the upgrade; and the anonymous greeting is unchanged.
func TestWebSocketSession(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")

	t.Run("token in the subprotocol, the greeting names the user", func(t *testing.T) {
		c := dialSession(t, wsURL(ts), pair.Token, "ada@example.com")
		c.Close(websocket.StatusNormalClosure, "")
	})
	t.Run("anonymous as before", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL(ts), &websocket.DialOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != greeting || c.Subprotocol() != "" {
			t.Fatalf("greeting %q %v, subprotocol %q", msg, err, c.Subprotocol())
		}
	})
	t.Run("refusals are 401 before the upgrade", func(t *testing.T) {
		expired, err := a.issuer(time.Minute, func() time.Time { return a.clock.Now().Add(-time.Hour) }).
			Issue(token.Principal{UserID: 1, SessionID: a.sessionOf(pair.Token)})
		if err != nil {
			t.Fatal(err)
		}
		for name, protocols := range map[string]string{
			"not a token":     "bearer, not-a-token",
			"no token":        "bearer",
			"expired token":   "bearer, " + expired,
			"another secret":  "bearer, " + mustIssue(t, strings.Repeat("x", 32), a, pair.Token),
			"token before it": "chat, bearer, not-a-token",
		} {
			rec := handshake(a, protocols)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401: %s", name, rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "ey") || strings.Contains(rec.Header().Get("Sec-WebSocket-Protocol"), ".") {
				t.Errorf("%s: the answer repeats the token: %v %s", name, rec.Header(), rec.Body)
			}
		}
		other := a.mustLoginPair("ada@example.com", "password123")
		a.status(a.do("POST", "/logout", "", bearer(other.Token)...), 204, "logout")
		rec := handshake(a, "bearer, "+other.Token)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), errSessionEnded.Detail) {
			t.Errorf("ended session: %d %s, want 401 %q", rec.Code, rec.Body, errSessionEnded.Detail)
		}
	})
	t.Run("an aal1 session of an account with a second factor: 403 mfa-required", func(t *testing.T) {
		secret, _, _ := a.mfaAccount("grace@example.com")
		pending := a.mustLogin("grace@example.com", "password123")
		rec := handshake(a, "bearer, "+pending)
		wantMFARequired(t, rec, "GET /ws at aal1")
		up := decode[oapi.Token](t, a.status(a.mfaVerify(pending, "code", codeAt(t, secret, a.clock.Now().Add(30*time.Second))), 200, "POST /mfa/verify"))
		c := dialSession(t, wsURL(ts), up.Token, "grace@example.com")
		c.Close(websocket.StatusNormalClosure, "")
	})
	if strings.Contains(a.logs.String(), pair.Token) {
		t.Error("a token in the subprotocol was logged")
	}
}

// mustIssue signs a token for the session of tok with secret.
func mustIssue(t *testing.T, secret string, a *testAPI, tok string) string {
	t.Helper()
	p, err := a.srv.tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	s, err := token.New([]byte(secret), time.Hour, a.clock.Now).Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWebSocketSessionEnds: every way a session ends closes its sockets
// with 4001 within a second, and only its own: other sessions' sockets stay.
func TestWebSocketSessionEnds(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	url := wsURL(ts)

	// user makes a fresh user with two sessions, each with a socket.
	n := 0
	user := func(t *testing.T) (email string, mine, other tokenPair, mineWS, otherWS *websocket.Conn) {
		n++
		email = fmt.Sprintf("user%d@example.com", n)
		a.mustRegister(email, "password123")
		p1, p2 := a.mustLoginPair(email, "password123"), a.mustLoginPair(email, "password123")
		mine, other = tokenPair{p1.Token, p1.RefreshToken}, tokenPair{p2.Token, p2.RefreshToken}
		return email, mine, other, dialSession(t, url, mine.access, email), dialSession(t, url, other.access, email)
	}
	// The bystander's socket must outlive every subtest.
	a.mustRegister("bystander@example.com", "password123")
	bystander := dialSession(t, url, a.mustLogin("bystander@example.com", "password123"), "bystander@example.com")

	t.Run("logout closes that session's socket only", func(t *testing.T) {
		_, mine, _, mineWS, otherWS := user(t)
		a.status(a.do("POST", "/logout", "", bearer(mine.access)...), 204, "logout")
		ce := closedWith(t, mineWS, ws.StatusSessionEnded, sessionSocketDeadline)
		if ce.Reason != ws.ReasonSessionEnded {
			t.Errorf("reason %q, want %q", ce.Reason, ws.ReasonSessionEnded)
		}
		stillOpen(t, otherWS, 100*time.Millisecond)
	})
	t.Run("DELETE /sessions/{id} closes the revoked session's socket", func(t *testing.T) {
		_, mine, other, mineWS, otherWS := user(t)
		a.status(a.do("DELETE", "/sessions/"+a.sessionOf(other.access), "", bearer(mine.access)...), 204, "revoke")
		closedWith(t, otherWS, ws.StatusSessionEnded, sessionSocketDeadline)
		stillOpen(t, mineWS, 100*time.Millisecond)
	})
	t.Run("DELETE /sessions closes every socket of the user", func(t *testing.T) {
		_, mine, _, mineWS, otherWS := user(t)
		a.status(a.do("DELETE", "/sessions", "", bearer(mine.access)...), 204, "end all")
		closedWith(t, mineWS, ws.StatusSessionEnded, sessionSocketDeadline)
		closedWith(t, otherWS, ws.StatusSessionEnded, sessionSocketDeadline)
	})
	t.Run("a password change closes the other sessions' sockets", func(t *testing.T) {
		_, mine, _, mineWS, otherWS := user(t)
		a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "new-password-1"),
			bearer(mine.access)...), 204, "change")
		closedWith(t, otherWS, ws.StatusSessionEnded, sessionSocketDeadline)
		stillOpen(t, mineWS, 100*time.Millisecond)
	})
	t.Run("a password reset closes every socket of the user", func(t *testing.T) {
		email, _, _, mineWS, otherWS := user(t)
		a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), 202, "forgot")
		reset := a.waitEmail(email, "Reset", 0)
		a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "new-password-1")), 204, "reset")
		closedWith(t, mineWS, ws.StatusSessionEnded, sessionSocketDeadline)
		closedWith(t, otherWS, ws.StatusSessionEnded, sessionSocketDeadline)
	})
	t.Run("refresh-token reuse closes the session's socket", func(t *testing.T) {
		_, mine, _, mineWS, otherWS := user(t)
		a.status(a.refresh(mine.refresh), 200, "refresh")
		a.status(a.refresh(mine.refresh), 401, "reuse")
		closedWith(t, mineWS, ws.StatusSessionEnded, sessionSocketDeadline)
		stillOpen(t, otherWS, 100*time.Millisecond)
	})
	t.Run("account deletion closes every socket of the user", func(t *testing.T) {
		_, mine, _, mineWS, otherWS := user(t)
		a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(mine.access)...), 204, "delete")
		closedWith(t, mineWS, ws.StatusSessionEnded, sessionSocketDeadline)
		closedWith(t, otherWS, ws.StatusSessionEnded, sessionSocketDeadline)
	})
	stillOpen(t, bystander, 100*time.Millisecond)
}

type tokenPair struct{ access, refresh string }

// TestWebSocketTokenExpiry: a socket closes with 4002 at its token's exp,
// unless a token message of the same session renews it; a token of another
// session or user, or any other message, closes it with 4003.
func TestWebSocketTokenExpiry(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	// Tokens of 2 s (exp is in whole seconds: the socket lives 1 to 2 s).
	a.srv.tokens = a.issuer(2*time.Second, a.clock.Now)
	ts := httptest.NewServer(a.srv)
	t.Cleanup(ts.Close) // after the parallel subtests
	url := wsURL(ts)
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	long := a.issuer(time.Hour, a.clock.Now)
	issue := func(p token.Principal) string {
		tok, err := long.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	send := func(c *websocket.Conn, msg string) {
		if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	tokenMessage := func(tok string) string { return `{"type":"token","token":"` + tok + `"}` }

	t.Run("closed at exp", func(t *testing.T) {
		t.Parallel()
		c := dialSession(t, url, a.mustLogin("ada@example.com", "password123"), "ada@example.com")
		start := time.Now()
		ce := closedWith(t, c, ws.StatusTokenExpired, 3*time.Second)
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("closed after %s, before the token expired", took)
		}
		if ce.Reason != ws.ReasonTokenExpired {
			t.Errorf("reason %q", ce.Reason)
		}
	})
	t.Run("a token message of the same session renews it", func(t *testing.T) {
		t.Parallel()
		tok := a.mustLogin("ada@example.com", "password123")
		c := dialSession(t, url, tok, "ada@example.com")
		p, _ := a.srv.tokens.Verify(tok)
		send(c, tokenMessage(issue(p)))
		stillOpen(t, c, 2500*time.Millisecond) // past the first token's exp
	})
	for name, msg := range map[string]func(p token.Principal) string{
		"a token of another session": func(p token.Principal) string {
			p.SessionID = a.sessionOf(a.mustLogin("ada@example.com", "password123"))
			return tokenMessage(issue(p))
		},
		"a token of another user": func(token.Principal) string {
			return tokenMessage(a.mustLogin("bob@example.com", "password123"))
		},
		"an invalid token":    func(token.Principal) string { return tokenMessage("not-a-token") },
		"not a token message": func(token.Principal) string { return `{"hello":"there"}` },
	} {
		t.Run(name+" closes it with 4003", func(t *testing.T) {
			t.Parallel()
			tok := a.mustLogin("ada@example.com", "password123")
			c := dialSession(t, url, tok, "ada@example.com")
			p, _ := a.srv.tokens.Verify(tok)
			send(c, msg(p))
			closedWith(t, c, ws.StatusTokenRefused, time.Second)
		})
	}
}

// TestWebSocketRecheck: a session that ends without an announcement (its
// row deleted behind keel's back) closes its sockets at the next re-check;
// and on PostgreSQL a watch whose connection dropped re-checks at once
// when it is back.
func TestWebSocketRecheck(t *testing.T) {
	t.Parallel()
	t.Run("every WS_RECHECK_INTERVAL", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t, func(c *Config) { c.RecheckInterval = 200 * time.Millisecond })
		ts := httptest.NewServer(a.srv)
		defer ts.Close()
		a.mustRegister("ada@example.com", "password123")
		tok := a.mustLogin("ada@example.com", "password123")
		c := dialSession(t, wsURL(ts), tok, "ada@example.com")
		keep := dialSession(t, wsURL(ts), a.mustLogin("ada@example.com", "password123"), "ada@example.com")
		a.db.exec(t, "DELETE FROM sessions WHERE id = '%s'", a.sessionOf(tok))
		closedWith(t, c, ws.StatusSessionEnded, time.Second)
		stillOpen(t, keep, 300*time.Millisecond)
	})
	t.Run("after the listener reconnects", func(t *testing.T) {
		t.Parallel()
		if !testutil.OnPostgres() {
			t.Skip("SQLite's announcements are in process: none can be missed")
		}
		a := newTestAPI(t, func(c *Config) { c.RecheckInterval = time.Hour })
		ts := httptest.NewServer(a.srv)
		defer ts.Close()
		a.mustRegister("ada@example.com", "password123")
		tok := a.mustLogin("ada@example.com", "password123")
		c := dialSession(t, wsURL(ts), tok, "ada@example.com")
		a.db.exec(t, "DELETE FROM sessions WHERE id = '%s'", a.sessionOf(tok))
		// Drop the watch's connection: it reconnects after a second and
		// re-checks at once.
		a.db.exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%%'")
		closedWith(t, c, ws.StatusSessionEnded, 5*time.Second)
		if !strings.Contains(a.logs.String(), "not hearing of sessions ending") {
			t.Error("the lost watch was not logged")
		}
	})
}

// TestHeldSessionSockets: a socket owned by a session is held, like an
// anonymous one, by one goroutine: its expiry is a timer, its ending comes
// from the watch.
func TestHeldSessionSockets(t *testing.T) {
	// serial: counts the process's goroutines, which parallel tests would change.
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	a.mustRegister("ada@example.com", "password123")
	// ws.MaxPerSession sockets for each of several sessions.
	toks := make([]string, 100/ws.MaxPerSession)
	for i := range toks {
		toks[i] = a.mustLogin("ada@example.com", "password123")
	}
	a.do("GET", "/metrics", "") // starts the pool's own goroutines first (see TestHeldWebSockets)

	n := len(toks) * ws.MaxPerSession
	before := runtime.NumGoroutine()
	socks := make([]*rawSocket, n)
	for i := range socks {
		socks[i] = dialRawAs(t, addr, nil, toks[i%len(toks)], userGreeting("ada@example.com"))
		defer socks[i].Close()
	}
	perSocket := float64(settleGoroutines(before+n)-before) / float64(n)
	t.Logf("%d session sockets held: %.2f goroutines per socket", n, perSocket)
	if perSocket > maxGoroutinesPerSocket {
		t.Errorf("%.2f goroutines per held session socket, want ≤ %.2f", perSocket, maxGoroutinesPerSocket)
	}
	// Logouts: every one hears 4001.
	for _, tok := range toks {
		a.status(a.do("POST", "/logout", "", bearer(tok)...), 204, "logout")
	}
	for i, s := range socks {
		if op, payload := s.readFrame(t); op != opClose || len(payload) < 2 || binary.BigEndian.Uint16(payload) != uint16(ws.StatusSessionEnded) {
			t.Fatalf("socket %d: frame %#x %q, want close 4001", i, op, payload)
		}
	}
}
