package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/password"
)

// A sign-in checks its proof (a password against the stored hash, in
// bcrypt's ~100 ms; a passkey's assertion) before it stores its session. A
// password reset that commits in between ends every session, but not one
// that does not exist yet: these tests order the reset there and check that
// the sign-in gets no session.

// TestLoginDuringReset: a login whose password bcrypt is comparing when the
// owner's reset commits gets the answer to a wrong password (401, the same
// body) and no session, whether the address was unproved (a squatter's
// login: with a session it could add a passkey, a way back in) or proved
// (the old password's holder).
func TestLoginDuringReset(t *testing.T) {
	t.Parallel()
	// Two slots: the reset hashes its password while the login's
	// comparison waits for it.
	a := newTestAPIWith(t, password.New(4, 2, 64))
	a.startJobs()
	for _, tt := range []struct {
		email  string
		proved bool
	}{
		{"squatted@example.com", false},
		{"owned@example.com", true},
	} {
		t.Run(tt.email, func(t *testing.T) {
			a := a.forInput(t)
			var u oapi.User
			if tt.proved {
				u = a.mustRegister(tt.email, "old-password")
			} else {
				u = a.mustRegisterUnverified(tt.email, "old-password")
			}
			wrong := problemOf(t, a.status(a.do("POST", "/login", credentials(tt.email, "wrong-password")), 401, "wrong password"))
			a.status(a.do("POST", "/password/forgot", jsonBody("email", tt.email)), http.StatusAccepted, "forgot")
			reset := a.waitEmail(tt.email, "Reset", 0)
			creds, err := a.store.GetCredentials(t.Context(), tt.email)
			if err != nil {
				t.Fatal(err)
			}

			// The owner's reset commits while bcrypt compares the old
			// password with the hash the login read.
			p := a.srv.passwords
			compare := p.Compare
			var once sync.Once
			p.Compare = func(hash, pw []byte) error {
				if string(hash) == creds.PasswordHash {
					once.Do(func() {
						a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "owners-password")),
							http.StatusNoContent, "the reset during the login")
					})
				}
				return compare(hash, pw)
			}
			defer func() { p.Compare = compare }()
			rec := a.do("POST", "/login", credentials(tt.email, "old-password"))
			p.Compare = compare

			if rec.Code == http.StatusOK {
				tok := decode[oapi.Token](t, rec)
				t.Fatalf("the login in flight during the reset got a session (GET /profile: %d), want 401", a.profileStatus(tok.Token))
			}
			got := problemOf(t, a.status(rec, http.StatusUnauthorized, "the login in flight during the reset"))
			got.Instance, wrong.Instance = nil, nil
			if diff := cmp.Diff(wrong, got); diff != "" {
				t.Errorf("the answer differs from a wrong password's (-wrong +got):\n%s", diff)
			}
			if list, err := a.store.ListSessions(t.Context(), u.ID); err != nil || len(list) != 0 {
				t.Errorf("sessions after the reset: %d (%v), want none", len(list), err)
			}
			a.mustLogin(tt.email, "owners-password")
		})
	}
}

// createAround is a Store whose CreateSession runs before, once, just
// before storing the session: a test's way to order a request between a
// sign-in's check of its proof and its session.
type createAround struct {
	db.Store
	before *atomic.Pointer[func()]
}

func (s createAround) CreateSession(ctx context.Context, sess db.Session) error {
	if f := s.before.Swap(nil); f != nil {
		(*f)()
	}
	return s.Store.CreateSession(ctx, sess)
}

// TestPasskeyLoginDuringReset: a squatter's passkey sign-in to an account
// whose address was unproved, when the owner's reset (which removes every
// passkey) commits after the assertion was verified, gets 401 and no
// session.
func TestPasskeyLoginDuringReset(t *testing.T) {
	t.Parallel()
	before := &atomic.Pointer[func()]{}
	a := buildTestAPI(t, testPasswords(), nil, func(d *Deps) { d.Store = createAround{Store: d.Store, before: before} })
	a.startJobs()
	const email = "victim@example.com"
	victim := a.mustRegisterUnverified(email, "squatters-password")
	squat := a.mustLogin(email, "squatters-password")
	// A passkey the squatter added before this release refused it on an
	// unproved account (see TestSquatterPasskeyViaProvider).
	d := newDevice()
	a.db.exec(t, "UPDATE users SET email_verified = TRUE WHERE id = %d", victim.ID)
	a.mustRegisterPasskey(squat, d)
	a.db.exec(t, "UPDATE users SET email_verified = FALSE WHERE id = %d", victim.ID)
	a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
	reset := a.waitEmail(email, "Reset", 0)

	f := func() {
		a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "owners-password")),
			http.StatusNoContent, "the reset during the passkey sign-in")
	}
	before.Store(&f)
	rec := a.passkeyLoginAs(d, testRP)
	if before.Load() != nil {
		t.Fatal("the reset did not run")
	}
	if rec.Code == http.StatusOK {
		tok := decode[oapi.Token](t, rec)
		t.Fatalf("the passkey sign-in in flight during the reset got a session (GET /profile: %d), want 401", a.profileStatus(tok.Token))
	}
	a.status(rec, http.StatusUnauthorized, "the passkey sign-in in flight during the reset")
	if list, err := a.store.ListSessions(t.Context(), victim.ID); err != nil || len(list) != 0 {
		t.Errorf("sessions after the reset: %d (%v), want none", len(list), err)
	}
	a.mustLogin(email, "owners-password")
}
