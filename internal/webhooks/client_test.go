package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/webhooks"
)

// counting is a receiver that counts its requests and answers with answer.
func counting(t *testing.T, answer http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestClientConnectRule: the client deliveries go through applies the SSRF
// rule when it connects, to the address a name resolved to (a name that
// resolves to loopback, as a rebinding name would at delivery, is refused
// as its literal address is, and the receiver sees nothing), and follows
// no redirect (a 3xx is the attempt's answer, and its target sees
// nothing); WEBHOOKS_ALLOW_PRIVATE's client reaches loopback. The rule's
// ranges are TestControlRefusesNonPublic's; this is its wiring.
func TestClientConnectRule(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	send := func(c *http.Client, to string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return webhooks.Send(ctx, c, to, [][]byte{key}, "msg_1", time.Now(), []byte(`{}`))
	}
	ok, hits := counting(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	u, _ := url.Parse(ok.URL)

	public := webhooks.NewClient(2*time.Second, false)
	for _, to := range []string{ok.URL, "http://localhost:" + u.Port() + "/"} {
		if _, err := send(public, to); !errors.Is(err, webhooks.ErrRefusedAddress) {
			t.Errorf("the public-only client sent to %s: %v, want ErrRefusedAddress", to, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests from the public-only client", n)
	}

	private := webhooks.NewClient(2*time.Second, true)
	if status, err := send(private, "http://localhost:"+u.Port()+"/"); err != nil || status != http.StatusNoContent {
		t.Errorf("WEBHOOKS_ALLOW_PRIVATE's client: %d, %v; want 204", status, err)
	}

	redirect, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ok.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	before := hits.Load()
	status, err := send(private, redirect.URL)
	var se webhooks.StatusError
	if !errors.As(err, &se) || status != http.StatusTemporaryRedirect {
		t.Errorf("a redirect: %d, %v; want the 307 as a failed attempt", status, err)
	}
	if hits.Load() != before {
		t.Error("the redirect was followed")
	}
}
