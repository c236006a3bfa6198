package server

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
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

// storeAround is a Store whose CreateSession, CreatePasskey and
// ReplaceRecoveryCodes run before, once, just before their transaction: a
// test's way to order a request between a handler's checks and its write.
type storeAround struct {
	db.Store
	before *atomic.Pointer[func()]
}

func (s storeAround) run() {
	if f := s.before.Swap(nil); f != nil {
		(*f)()
	}
}

func (s storeAround) CreateSession(ctx context.Context, sess db.Session, after ...func(*sql.Tx) error) error {
	s.run()
	return s.Store.CreateSession(ctx, sess, after...)
}

func (s storeAround) CreatePasskey(ctx context.Context, p db.Passkey, sessionID string, after func(*sql.Tx) error) error {
	s.run()
	return s.Store.CreatePasskey(ctx, p, sessionID, after)
}

func (s storeAround) ReplaceRecoveryCodes(ctx context.Context, userID int64, sessionID string, hashes []string, after func(*sql.Tx) error) error {
	s.run()
	return s.Store.ReplaceRecoveryCodes(ctx, userID, sessionID, hashes, after)
}

// newAroundAPI is a testAPI whose Server's store is a storeAround, with
// its jobs started; the test stores the hook in the pointer it returns.
func newAroundAPI(t *testing.T) (*testAPI, *atomic.Pointer[func()]) {
	before := &atomic.Pointer[func()]{}
	a := buildTestAPI(t, testPasswords(), nil, func(d *Deps) { d.Store = storeAround{Store: d.Store, before: before} })
	a.startJobs()
	return a, before
}

// resetDuring has the owner of email reset the password (through the
// mailed link, the skip-th) just before the store's next hooked write.
func (a *testAPI) resetDuring(before *atomic.Pointer[func()], email string, skip int, what string) {
	a.t.Helper()
	a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
	reset := a.waitEmail(email, "Reset", skip)
	f := func() {
		a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "owners-password")),
			http.StatusNoContent, "the reset during "+what)
	}
	before.Store(&f)
}

// TestPasskeyLoginDuringReset: a squatter's passkey sign-in to an account
// whose address was unproved, when the owner's reset (which removes every
// passkey) commits after the assertion was verified, gets 401 and no
// session.
func TestPasskeyLoginDuringReset(t *testing.T) {
	t.Parallel()
	a, before := newAroundAPI(t)
	const email = "victim@example.com"
	victim := a.mustRegisterUnverified(email, "squatters-password")
	squat := a.mustLogin(email, "squatters-password")
	// A passkey the squatter added before this release refused it on an
	// unproved account (see TestSquatterPasskeyViaProvider).
	d := newDevice()
	a.db.exec(t, "UPDATE users SET email_verified = TRUE WHERE id = %d", victim.ID)
	a.mustRegisterPasskey(squat, d)
	a.db.exec(t, "UPDATE users SET email_verified = FALSE WHERE id = %d", victim.ID)
	a.resetDuring(before, email, 0, "the passkey sign-in")
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

// TestAddedDuringReset: a passkey registration or a new set of recovery
// codes whose request passed the bearer check before the owner's reset
// (which ends every session) committed is refused with the ended
// session's 401 and stores nothing: the holder of a stolen password keeps
// no way in past the reset of a verified account, whose passkeys and
// codes the reset keeps.
func TestAddedDuringReset(t *testing.T) {
	t.Parallel()
	a, before := newAroundAPI(t)

	t.Run("a passkey", func(t *testing.T) {
		a := a.forInput(t)
		const email = "ada@example.com"
		u := a.mustRegister(email, "stolen-password")
		thief := a.mustLogin(email, "stolen-password")
		a.resetDuring(before, email, 0, "the passkey registration")
		rec := a.registerPasskeyAs(thief, newDevice(), testRP)
		if before.Load() != nil {
			t.Fatal("the reset did not run")
		}
		wantSessionEnded(t, a.status(rec, http.StatusUnauthorized, "a passkey registered across the reset"))
		if keys, err := a.store.ListPasskeys(t.Context(), u.ID); err != nil || len(keys) != 0 {
			t.Errorf("passkeys after the reset: %+v (%v), want none", keys, err)
		}
	})

	t.Run("recovery codes", func(t *testing.T) {
		a := a.forInput(t)
		const email = "bob@example.com"
		_, codes, pair := a.mfaAccount(email)
		a.resetDuring(before, email, 0, "the new recovery codes")
		rec := a.do("POST", "/mfa/recovery-codes", "", bearer(pair.Token)...)
		if before.Load() != nil {
			t.Fatal("the reset did not run")
		}
		wantSessionEnded(t, a.status(rec, http.StatusUnauthorized, "recovery codes regenerated across the reset"))
		// The old codes are still the account's, the thief's new ones none.
		tok := a.mustLogin(email, "owners-password")
		a.status(a.mfaVerify(tok, "recovery_code", codes[0]), http.StatusOK, "an old recovery code after the reset")
	})
}

// wantSessionEnded checks that rec is the ended session's problem.
func wantSessionEnded(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if p := problemOf(t, rec); p.Detail == nil || *p.Detail != errSessionEnded.Detail {
		t.Errorf("problem %+v, want the ended session's (%q)", p, errSessionEnded.Detail)
	}
}
