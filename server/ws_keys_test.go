package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/ws"
)

// TestWebSocketKeyRevoked: revoking a signing key closes, within a second,
// the sockets opened or renewed with its tokens (4002: the client refreshes,
// which gives a token of the fresh key, and opens a new one), as it refuses
// the tokens themselves; a socket of another key's token stays open.
func TestWebSocketKeyRevoked(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	ring := a.srv.keys.(*keys.Ring)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); ring.Run(ctx) }()
	t.Cleanup(func() { stop(); <-ran })

	a.mustRegister("ada@example.com", "password123")
	old, _, _ := ring.Signer()
	before := dialSession(t, wsURL(ts), a.mustLogin("ada@example.com", "password123"), "ada@example.com")
	admin, err := keys.NewAdmin(a.store.(keys.Store), []byte(testKEK), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	ce := closedWith(t, before, ws.StatusTokenExpired, sessionSocketDeadline+500*time.Millisecond)
	if ce.Reason != ws.ReasonKeyRevoked {
		t.Errorf("reason %q, want %q", ce.Reason, ws.ReasonKeyRevoked)
	}
	after := dialSession(t, wsURL(ts), a.mustLogin("ada@example.com", "password123"), "ada@example.com")
	stillOpen(t, after, 200*time.Millisecond)
}
