package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/ws"
)

// TestSocketsPerSessionCluster: a session's ws.MaxPerSession sockets are
// counted for the whole cluster, not per replica: with two servers on one
// database, 6 sockets on one and 4 on the other leave no place, and the
// 11th handshake on either gets 429 before the upgrade; closing one frees a
// place for either. A place is a lease the replica renews at each re-check:
// the places of a replica that stops renewing them (it crashed) free
// themselves once the lease has run out, those renewed do not.
func TestSocketsPerSessionCluster(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	// A second server on the same database: another replica.
	b := *a
	b.srv, b.jobs = newServer(t, testConfig(), a.db, a.srv.log, a.clock.Now, password.New(4, 1, 8))
	tsA, tsB := httptest.NewServer(a.srv), httptest.NewServer(b.srv)
	defer tsA.Close()
	defer tsB.Close()
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	for range 6 {
		dialSession(t, wsURL(tsA), tok, "ada@example.com")
	}
	var onB []*websocket.Conn
	for range ws.MaxPerSession - 6 {
		onB = append(onB, dialSession(t, wsURL(tsB), tok, "ada@example.com"))
	}
	refused := func(what string) {
		t.Helper()
		for _, api := range []*testAPI{a, &b} {
			rec := handshake(api, "bearer, "+tok)
			if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %d %s, want 429 problem+json", what, rec.Code, rec.Body)
			}
		}
	}
	refused("the 11th socket, 6 on one replica and 4 on the other")
	// Another session of the account has places of its own.
	dialSession(t, wsURL(tsB), a.mustLogin("ada@example.com", "password123"), "ada@example.com").Close(websocket.StatusNormalClosure, "")

	// Closing one on B frees a place for A, once B has removed it.
	onB[0].Close(websocket.StatusNormalClosure, "")
	redial(t, wsURL(tsA), tok)
	refused("the 11th socket after one closed and one opened")

	// B stops renewing (it crashed, its sockets unclosed); A renews its 7.
	a.clock.Add(a.srv.placeLease() + time.Second)
	a.srv.renewSocketPlaces(t.Context())
	for range ws.MaxPerSession - 7 {
		dialSession(t, wsURL(tsA), tok, "ada@example.com")
	}
	refused("the 11th socket once B's 3 places expired and A took them")
}

// redial opens a socket of tok's session on url, retrying until a place
// is free (a closed socket's place is given back once its server has
// removed it); the socket stays open until the test ends.
func redial(t *testing.T, url, tok string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{ws.BearerProtocol, tok}})
		cancel()
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
