package server

import (
	"net/http"
	"testing"

	"github.com/keelhq/keel/internal/password"
)

// TestVerifyEmailBusy: POST /email/verify checks the account's password on
// the bcrypt pool, so a full pool answers it 503 with Retry-After, as the
// spec says (the answer is validated against it), and the token is not
// spent: once the pool has room, the same request verifies the address.
func TestVerifyEmailBusy(t *testing.T) {
	t.Parallel()
	pool := password.New(4, 1, 0) // one worker, no queue
	a := newTestAPIWith(t, pool)
	a.startJobs()
	a.mustRegisterUnverified("ada@example.com", "password123")
	token := a.waitEmail("ada@example.com", "Confirm", 0)

	// A login holds the one worker until released.
	holding, release := make(chan struct{}), make(chan struct{})
	compare := pool.Compare
	pool.Compare = func(hash, pw []byte) error {
		close(holding)
		<-release
		return compare(hash, pw)
	}
	login := make(chan int, 1)
	go func() {
		login <- a.do("POST", "/login", credentials("ada@example.com", "password123")).Code
	}()
	<-holding
	rec := a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "password123")), http.StatusServiceUnavailable, "verify with the pool full")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(release)
	if code := <-login; code != http.StatusOK {
		t.Errorf("the login holding the pool: %d, want 200", code)
	}
	pool.Compare = compare
	a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "password123")), http.StatusNoContent, "verify once the pool has room")
}
