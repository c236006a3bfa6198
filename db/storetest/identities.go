package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's OpenID Connect half: sign-in flows, provider sign-ins and
// links, the one-time codes they leave for the app, and unlinking, with the
// error each returns for what is missing or refused.

// now is the clock of the sign-in tests: to the millisecond, so that an
// expiry "at now" is the very instant the store keeps.
var now = db.Millis(when)

// idp is a user of the provider "idp".
func idp(subject, email string, verified bool) db.ProviderUser {
	return db.ProviderUser{Provider: "idp", Subject: subject, Email: email, EmailVerified: verified}
}

// linking is p of a provider allowed to link by email
// (OIDC_<NAME>_LINK_BY_EMAIL).
func linking(p db.ProviderUser) db.ProviderUser {
	p.LinkByEmail = true
	return p
}

// code is a one-time code with hash h, live for a minute.
func code(h string) db.OAuthCode {
	return db.OAuthCode{Hash: h, Provider: "idp", CodeChallenge: "challenge-" + h, ExpiresAt: now.Add(time.Minute)}
}

// signIn signs p in at now, leaving code h, or fails the test.
func signIn(t *testing.T, s db.Store, p db.ProviderUser, h string) (db.User, string) {
	t.Helper()
	u, how, err := s.SignInWithProvider(t.Context(), p, code(h), now, nil)
	if err != nil {
		t.Fatalf("SignInWithProvider(%s/%s): %v", p.Provider, p.Subject, err)
	}
	return u, how
}

// linkSessions numbers the sessions link signs in with.
var linkSessions atomic.Int64

// link links p to userID at at, redeeming a link code from a session of
// the user's made for it, and ends that session and the one the redemption
// started (so that it leaves the user's sessions as they were), or fails
// the test.
func link(t *testing.T, s db.Store, userID int64, p db.ProviderUser, at time.Time) {
	t.Helper()
	n := linkSessions.Add(1)
	linking := addSession(t, s, userID, fmt.Sprint("linking-", n), at)
	c := db.OAuthCode{Hash: fmt.Sprint("link-code-", n), Provider: p.Provider, CodeChallenge: "challenge",
		Link: &p, LinkSessionID: linking.ID, ExpiresAt: at.Add(time.Minute)}
	createCode(t, s, userID, c)
	sess := newSession()
	if _, err := s.RedeemOAuthCode(t.Context(), c.Hash, c.CodeChallenge, sess, at, nil); err != nil {
		t.Fatalf("RedeemOAuthCode(%d, %s/%s): %v", userID, p.Provider, p.Subject, err)
	}
	for _, id := range []string{linking.ID, sess.ID} {
		if err := s.EndSession(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// createCode stores c for userID, or fails the test.
func createCode(t *testing.T, s db.Store, userID int64, c db.OAuthCode) {
	t.Helper()
	c.UserID = userID
	if err := s.CreateOAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateOAuthCode(%s): %v", c.Hash, err)
	}
}

// reset resets the user's password through a reset token, as the emailed
// link does, or fails the test.
func reset(t *testing.T, s db.Store, userID int64, h string) {
	t.Helper()
	token(t, s, h, userID, db.PurposeResetPassword, now.Add(time.Hour))
	if _, err := s.ResetPassword(t.Context(), h, "reset-"+h, now, nil); err != nil {
		t.Fatalf("ResetPassword(%s): %v", h, err)
	}
}

// sorted is ids sorted, for identities linked at the same instant.
func sorted(ids []string) []string {
	return slices.Sorted(slices.Values(ids))
}

// verifiedUser creates a user with a password and a verified email.
func verifiedUser(t *testing.T, s db.Store, email string) db.User {
	t.Helper()
	u := mustCreate(t, s, email)
	token(t, s, "verify-"+email, u.ID, db.PurposeVerifyEmail, now.Add(time.Hour))
	if err := s.VerifyEmail(t.Context(), "verify-"+email, u.ID, now); err != nil {
		t.Fatal(err)
	}
	u.EmailVerified = true
	return u
}

// subjects lists the subjects of the user's identities, oldest first.
func subjects(t *testing.T, s db.Store, userID int64) []string {
	t.Helper()
	list, err := s.ListIdentities(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, i := range list {
		out = append(out, i.Subject)
	}
	return out
}

// spend redeems code h (code's, of challenge "challenge-<h>") at now, and
// ends the session it started, if any.
func spend(t *testing.T, s db.Store, h string) (db.OAuthCode, error) {
	t.Helper()
	sess := newSession()
	c, err := s.RedeemOAuthCode(t.Context(), h, "challenge-"+h, sess, now, nil)
	if err == nil {
		if err := s.EndSession(t.Context(), sess.ID); err != nil {
			t.Fatal(err)
		}
	}
	return c, err
}

// takeCode checks that code h is stored for userID, spending it. A link
// code's redemption is refused after the check (no session asked for it:
// ErrNoSession), which shows it was there.
func takeCode(t *testing.T, s db.Store, h string, userID int64) {
	t.Helper()
	c, err := spend(t, s, h)
	if (err != nil && !errors.Is(err, db.ErrNoSession)) || c.UserID != userID {
		t.Errorf("RedeemOAuthCode(%s) = %+v, %v; want a code of user %d", h, c, err, userID)
	}
}

// noCode checks that code h was not stored.
func noCode(t *testing.T, s db.Store, h string) {
	t.Helper()
	if c, err := spend(t, s, h); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("RedeemOAuthCode(%s) = %+v, %v; want db.ErrNoToken: no code stored", h, c, err)
	}
}

// countUsersIs checks the number of accounts.
func countUsersIs(t *testing.T, s db.Store, want int64) {
	t.Helper()
	if n, err := s.CountUsers(t.Context()); err != nil || n != want {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, want)
	}
}

// oauthFlows: a flow reads back whole, once, before it expires; an unknown,
// spent or expired one is ErrNoFlow.
func oauthFlows(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	for _, f := range []db.OAuthFlow{
		{StateHash: "sign-in", Provider: "google", Nonce: "n1", Verifier: "v1", CodeChallenge: "c1",
			RedirectTo: "https://app.example.com/cb", ExpiresAt: when.Add(10 * time.Minute)},
		{StateHash: "link", Provider: "github", Nonce: "n2", Verifier: "v2", CodeChallenge: "c2",
			RedirectTo: "myapp://cb", LinkUserID: ada.ID, LinkSessionID: "adas-session", ExpiresAt: when.Add(10 * time.Minute)},
		{StateHash: "live for a millisecond more", Provider: "idp", Nonce: "n3", Verifier: "v3", CodeChallenge: "c3",
			RedirectTo: "https://app.example.com/", ExpiresAt: now.Add(time.Millisecond)},
	} {
		t.Run(f.StateHash, func(t *testing.T) {
			if err := s.CreateOAuthFlow(ctx, f); err != nil {
				t.Fatalf("CreateOAuthFlow: %v", err)
			}
			want := f
			want.ExpiresAt = db.Millis(f.ExpiresAt)
			if got, err := s.TakeOAuthFlow(ctx, f.StateHash, now); err != nil || got != want {
				t.Errorf("TakeOAuthFlow = %+v, %v; want %+v", got, err, want)
			}
			if _, err := s.TakeOAuthFlow(ctx, f.StateHash, now); !errors.Is(err, db.ErrNoFlow) {
				t.Errorf("TakeOAuthFlow again: %v, want db.ErrNoFlow", err)
			}
		})
	}

	for _, f := range []db.OAuthFlow{
		{StateHash: "expired", ExpiresAt: now.Add(-time.Second)},
		{StateHash: "expiring at now", ExpiresAt: now},
	} {
		f.Provider, f.Nonce, f.Verifier, f.CodeChallenge, f.RedirectTo = "idp", "n", "v", "c", "https://app.example.com/"
		if err := s.CreateOAuthFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ name, hash string }{
		{"unknown", "nope"},
		{"expired", "expired"},
		{"expired (at now exactly)", "expiring at now"},
		{"expired, tried again", "expiring at now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if f, err := s.TakeOAuthFlow(ctx, tt.hash, now); !errors.Is(err, db.ErrNoFlow) {
				t.Errorf("TakeOAuthFlow = %+v, %v; want db.ErrNoFlow", f, err)
			}
		})
	}
}

// concurrentFlowTakes: of many callbacks with one state at once, exactly
// one gets the flow.
func concurrentFlowTakes(t *testing.T, s db.Store) {
	f := db.OAuthFlow{StateHash: "state", Provider: "idp", Nonce: "n", Verifier: "v", CodeChallenge: "c",
		RedirectTo: "https://app.example.com/", ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateOAuthFlow(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	errs := race(t, func(ctx context.Context, _ int) error {
		_, err := s.TakeOAuthFlow(ctx, f.StateHash, now)
		return err
	})
	exactlyOne(t, "TakeOAuthFlow of one flow", errs, db.ErrNoFlow)
}

// signInNewUser: a provider user nobody knows gets an account without a
// password, verified as the provider says, with the identity linked, the
// code stored for it, and after run in the same transaction.
func signInNewUser(t *testing.T, s db.Store) {
	ctx := t.Context()
	for i, verified := range []bool{true, false} {
		t.Run(fmt.Sprintf("provider says verified: %v", verified), func(t *testing.T) {
			p := idp(fmt.Sprint("sub-", i), fmt.Sprintf("new%d@example.com", i), verified)
			c := code(fmt.Sprint("code-", i))
			var seen db.User
			var inTx string
			u, how, err := s.SignInWithProvider(ctx, p, c, when, func(tx *sql.Tx, u db.User, _ string) error {
				seen = u
				// The transaction is live and holds the new user.
				return tx.QueryRowContext(ctx, fmt.Sprintf("SELECT email FROM users WHERE id = %d", u.ID)).Scan(&inTx)
			})
			if err != nil || how != db.SignInNewUser {
				t.Fatalf("SignInWithProvider = %+v, %q, %v; want a new user", u, how, err)
			}
			want := db.User{ID: u.ID, Email: p.Email, CreatedAt: now, EmailVerified: verified}
			if u.ID <= 0 || u != want {
				t.Errorf("the new user = %+v, want %+v", u, want)
			}
			if seen != u || inTx != p.Email {
				t.Errorf("after saw %+v and read %q in its transaction; want %+v and %q", seen, inTx, u, p.Email)
			}
			if got, err := s.GetUser(ctx, u.ID); err != nil || got != want {
				t.Errorf("GetUser = %+v, %v; want %+v", got, err, want)
			}
			if cr, err := s.GetCredentials(ctx, p.Email); err != nil || cr != (db.Credentials{UserID: u.ID}) {
				t.Errorf("GetCredentials = %+v, %v; want user %d with no password hash", cr, err, u.ID)
			}
			ids, err := s.ListIdentities(ctx, u.ID)
			if err != nil || len(ids) != 1 {
				t.Fatalf("ListIdentities = %+v, %v; want one", ids, err)
			}
			wantID := db.Identity{ID: ids[0].ID, UserID: u.ID, Provider: p.Provider, Subject: p.Subject, Email: p.Email, CreatedAt: now}
			if ids[0].ID <= 0 || ids[0] != wantID {
				t.Errorf("the identity = %+v, want %+v", ids[0], wantID)
			}
			wantCode := c // carrying the identity, for the session it starts
			wantCode.UserID, wantCode.ExpiresAt, wantCode.IdentityID = u.ID, db.Millis(c.ExpiresAt), ids[0].ID
			if got, err := spend(t, s, c.Hash); err != nil || !sameCode(got, wantCode) {
				t.Errorf("RedeemOAuthCode = %+v, %v; want %+v (no Link: a sign-in's code)", got, err, wantCode)
			}
		})
	}
}

// newUserTrust: a new account's identity is trusted only when its provider
// verified the address. A password reset (the mailbox's owner proving it)
// drops an untrusted one and the sessions it started, and the provider user
// who squatted the address cannot come back through it; a trusted one
// survives the reset.
func newUserTrust(t *testing.T, s db.Store) {
	ctx := t.Context()
	t.Run("unverified: a reset drops it", func(t *testing.T) {
		squatter := idp("squatter", "victim@example.com", false)
		u, how := signIn(t, s, squatter, "squatters-code")
		if how != db.SignInNewUser || u.EmailVerified {
			t.Fatalf("the squatter's sign-in = %+v, %q; want a new, unverified user", u, how)
		}
		addSession(t, s, u.ID, "squatters-session", now)
		reset(t, s, u.ID, "victims-reset")
		if ids := subjects(t, s, u.ID); len(ids) != 0 {
			t.Errorf("identities after the reset = %q, want none", ids)
		}
		if ids := sessionIDs(t, s, u.ID); len(ids) != 0 {
			t.Errorf("sessions after the reset = %q, want none", ids)
		}
		users, err := s.CountUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, how, err := s.SignInWithProvider(ctx, squatter, code("squatters-return"), now, nil); !errors.Is(err, db.ErrAccountExists) {
			t.Errorf("the squatter signing in again = %+v, %q, %v; want db.ErrAccountExists", got, how, err)
		}
		noCode(t, s, "squatters-return")
		countUsersIs(t, s, users)
		if cr, err := s.GetCredentials(ctx, "victim@example.com"); err != nil || cr != (db.Credentials{UserID: u.ID, PasswordHash: "reset-victims-reset"}) {
			t.Errorf("GetCredentials = %+v, %v; want the account with the reset password", cr, err)
		}
	})
	t.Run("verified: a reset keeps it", func(t *testing.T) {
		owner := idp("owner", "owner@example.com", true)
		u, how := signIn(t, s, owner, "owners-code")
		if how != db.SignInNewUser || !u.EmailVerified {
			t.Fatalf("the sign-in = %+v, %q; want a new, verified user", u, how)
		}
		reset(t, s, u.ID, "owners-reset")
		if ids := subjects(t, s, u.ID); !equal(ids, []string{"owner"}) {
			t.Errorf("identities after the reset = %q, want [owner]", ids)
		}
		if got, how := signIn(t, s, owner, "owners-return"); how != db.SignInReturning || got.ID != u.ID {
			t.Errorf("signing in again = %+v, %q; want user %d, %q", got, how, u.ID, db.SignInReturning)
		}
	})
}

// The rest of the defences against pre-account hijacking (see the
// identities migration): whoever proves the account's address (a password
// reset, the verification mail, a provider that verified it) takes the
// account from anyone who squatted it through a provider that had not, and
// with it all the squatter may hold: identities, sessions, codes not yet
// redeemed and link flows under way.

// squat signs in, at now, a provider user whose provider has not verified
// email: a new, unverified account with an untrusted identity, a sign-in
// code "<subject>-code" and a session "<subject>-session".
func squat(t *testing.T, s db.Store, subject, email string) db.User {
	t.Helper()
	u, how := signIn(t, s, idp(subject, email, false), subject+"-code")
	if how != db.SignInNewUser || u.EmailVerified {
		t.Fatalf("the squatter's sign-in = %+v, %q; want a new, unverified user", u, how)
	}
	addSession(t, s, u.ID, subject+"-session", now)
	return u
}

// hold stores what someone signed in to userID may hold besides sessions:
// a sign-in code "<name>-sign-in", a link flow's code "<name>-link" whose
// identity is not linked yet, and a link flow "<name>-flow" waiting for its
// callback.
func hold(t *testing.T, s db.Store, userID int64, name string) {
	t.Helper()
	createCode(t, s, userID, code(name+"-sign-in"))
	c := code(name + "-link")
	c.Link = &db.ProviderUser{Provider: "idp", Subject: name + "-pending", Email: name + "@elsewhere.example.com", EmailVerified: true}
	createCode(t, s, userID, c)
	f := db.OAuthFlow{StateHash: name + "-flow", Provider: "idp", Nonce: "n", Verifier: "v", CodeChallenge: "c",
		RedirectTo: "https://app.example.com/", LinkUserID: userID, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateOAuthFlow(t.Context(), f); err != nil {
		t.Fatalf("CreateOAuthFlow(%s): %v", f.StateHash, err)
	}
}

// voided checks that what hold stored under name is gone.
func voided(t *testing.T, s db.Store, name string) {
	t.Helper()
	for _, h := range []string{name + "-sign-in", name + "-link"} {
		if c, err := spend(t, s, h); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("RedeemOAuthCode(%s) = %+v, %v; want db.ErrNoToken: voided", h, c, err)
		}
	}
	if f, err := s.TakeOAuthFlow(t.Context(), name+"-flow", now); !errors.Is(err, db.ErrNoFlow) {
		t.Errorf("TakeOAuthFlow(%s-flow) = %+v, %v; want db.ErrNoFlow: voided", name, f, err)
	}
}

// kept checks that what hold stored for userID under name is still there,
// spending it.
func kept(t *testing.T, s db.Store, userID int64, name string) {
	t.Helper()
	takeCode(t, s, name+"-sign-in", userID)
	takeCode(t, s, name+"-link", userID)
	if f, err := s.TakeOAuthFlow(t.Context(), name+"-flow", now); err != nil || f.LinkUserID != userID {
		t.Errorf("TakeOAuthFlow(%s-flow) = %+v, %v; want user %d's link flow", name, f, err, userID)
	}
}

// sessionsGone checks that each session is ErrNoSession.
func sessionsGone(t *testing.T, s db.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if sess, err := s.GetSession(t.Context(), id); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("GetSession(%s) = %+v, %v; want db.ErrNoSession: ended", id, sess, err)
		}
	}
}

// verifyAddress verifies the user's address through a verification token
// h, as the emailed link does, or fails the test.
func verifyAddress(t *testing.T, s db.Store, userID int64, h string) {
	t.Helper()
	token(t, s, h, userID, db.PurposeVerifyEmail, now.Add(time.Hour))
	if err := s.VerifyEmail(t.Context(), h, userID, now); err != nil {
		t.Fatalf("VerifyEmail(%s): %v", h, err)
	}
}

// linkTrust: nothing is linked from the profile to an account whose address
// is unproved (ErrEmailUnverified, the code spent): the one linking may be
// the squatter, making itself a way back in that would survive the owner's
// proof. Once the owner has proved the address, their links are trusted.
func linkTrust(t *testing.T, s db.Store) {
	t.Run("an account whose address is unproved: nothing linked", func(t *testing.T) {
		victim := squat(t, s, "squatter", "victim@example.com")
		own := idp("squatters-own", "squatter@evil.example.com", true)
		c := code("squatters-link")
		c.Link, c.LinkSessionID = &own, "squatter-session"
		createCode(t, s, victim.ID, c)
		if got, err := s.RedeemOAuthCode(t.Context(), c.Hash, c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrEmailUnverified) {
			t.Fatalf("RedeemOAuthCode = %+v, %v; want db.ErrEmailUnverified", got, err)
		}
		noCode(t, s, c.Hash)
		if ids := subjects(t, s, victim.ID); !equal(ids, []string{"squatter"}) {
			t.Fatalf("identities = %q, want [squatter]: nothing linked", ids)
		}
		reset(t, s, victim.ID, "victims-reset")
		if ids := subjects(t, s, victim.ID); len(ids) != 0 {
			t.Errorf("identities after the reset = %q, want none", ids)
		}
		// The squatter's own provider account is nobody's now: it signs up
		// afresh, and not into the victim's account.
		if u, how := signIn(t, s, own, "squatters-own-code"); how != db.SignInNewUser || u.ID == victim.ID {
			t.Errorf("signing in with the squatter's linked account = %+v, %q; want a new user, not user %d", u, how, victim.ID)
		}

		t.Run("the owner's link after the proof: trusted", func(t *testing.T) {
			verifyAddress(t, s, victim.ID, "verify-victim")
			link(t, s, victim.ID, idp("victims-own", "victim@idp.example.com", false), now)
			reset(t, s, victim.ID, "victims-second-reset")
			if ids := subjects(t, s, victim.ID); !equal(ids, []string{"victims-own"}) {
				t.Errorf("identities after another reset = %q, want [victims-own]", ids)
			}
		})
	})

	t.Run("an account without one: trusted", func(t *testing.T) {
		ada := verifiedUser(t, s, "ada@example.com") // a password, no identity
		grace, _ := signIn(t, s, idp("grace", "grace@example.com", true), "graces-code")
		for _, tt := range []struct {
			name string
			user db.User
			want []string
		}{
			{"a password and no identity", ada, []string{"adas-own"}},
			{"a provider that verified the address", grace, []string{"grace", "graces-own"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				own := tt.want[len(tt.want)-1]
				link(t, s, tt.user.ID, idp(own, own+"@idp.example.com", false), now)
				reset(t, s, tt.user.ID, own+"-reset")
				if ids := sorted(subjects(t, s, tt.user.ID)); !equal(ids, tt.want) {
					t.Errorf("identities after the reset = %q, want %q", ids, tt.want)
				}
			})
		}
	})
}

// resetGrants: a password reset voids the user's codes not yet redeemed
// and link flows under way, whether or not an untrusted identity went with
// it: each would give a session begun before the reset. Another user's, and
// sign-in flows (nobody's yet), stay.
func resetGrants(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com") // no identity at all
	bob := mustCreate(t, s, "bob@example.com")
	hold(t, s, ada.ID, "ada")
	hold(t, s, bob.ID, "bob")
	signInFlow := db.OAuthFlow{StateHash: "sign-in", Provider: "idp", Nonce: "n", Verifier: "v", CodeChallenge: "c",
		RedirectTo: "https://app.example.com/", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateOAuthFlow(ctx, signInFlow); err != nil {
		t.Fatal(err)
	}
	reset(t, s, ada.ID, "adas-reset")
	voided(t, s, "ada")
	if ids := subjects(t, s, ada.ID); len(ids) != 0 {
		t.Errorf("ada's identities = %q, want none: the voided link code linked nothing", ids)
	}
	kept(t, s, bob.ID, "bob")
	if _, err := s.TakeOAuthFlow(ctx, "sign-in", now); err != nil {
		t.Errorf("a sign-in flow: %v, want kept", err)
	}

	t.Run("with an untrusted identity", func(t *testing.T) {
		victim := squat(t, s, "squatter", "victim@example.com")
		hold(t, s, victim.ID, "squatter")
		reset(t, s, victim.ID, "victims-reset")
		voided(t, s, "squatter")
		noCode(t, s, "squatter-code")
		sessionsGone(t, s, "squatter-session")
		if ids := subjects(t, s, victim.ID); len(ids) != 0 {
			t.Errorf("identities = %q, want none", ids)
		}
	})
}

// verifyEmailTrust: a verification by the account's holder (the server
// has checked its password or a session of it) marks the address verified
// and trusts the account's identities, the untrusted one that created it
// included: a reset then keeps it. Nothing is dropped or ended. A token
// sent to an address the account no longer has proves nothing.
func verifyEmailTrust(t *testing.T, s db.Store) {
	ctx := t.Context()
	t.Run("an untrusted identity: trusted, the sessions kept", func(t *testing.T) {
		holder := squat(t, s, "holder", "holder@example.com")
		hold(t, s, holder.ID, "holder")
		verifyAddress(t, s, holder.ID, "verify-holder")
		if u, err := s.GetUser(ctx, holder.ID); err != nil || !u.EmailVerified {
			t.Errorf("GetUser = %+v, %v; want verified", u, err)
		}
		if ids := sessionIDs(t, s, holder.ID); !equal(ids, []string{"holder-session"}) {
			t.Errorf("sessions = %q, want [holder-session] kept", ids)
		}
		kept(t, s, holder.ID, "holder")
		reset(t, s, holder.ID, "holders-reset")
		if ids := subjects(t, s, holder.ID); !equal(ids, []string{"holder"}) {
			t.Errorf("identities after a reset = %q, want [holder]: trusted", ids)
		}
	})

	t.Run("only trusted identities: nothing dropped, the sessions kept", func(t *testing.T) {
		ada := verifiedUser(t, s, "ada@example.com")
		link(t, s, ada.ID, idp("adas", "ada@idp.example.com", false), now) // from the profile: trusted
		addSession(t, s, ada.ID, "adas-session", now)
		hold(t, s, ada.ID, "ada")
		verifyAddress(t, s, ada.ID, "verify-ada")
		if ids := subjects(t, s, ada.ID); !equal(ids, []string{"adas"}) {
			t.Errorf("identities = %q, want [adas] kept", ids)
		}
		if ids := sessionIDs(t, s, ada.ID); !equal(ids, []string{"adas-session"}) {
			t.Errorf("sessions = %q, want [adas-session] kept", ids)
		}
		kept(t, s, ada.ID, "ada")
	})

	t.Run("a token sent to another address: nothing proved", func(t *testing.T) {
		victim := squat(t, s, "squatter2", "victim2@example.com")
		if err := s.CreateOneTimeToken(ctx, db.OneTimeToken{Hash: "old-address", UserID: victim.ID, Purpose: db.PurposeVerifyEmail,
			Email: "victim2@old.example.com", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyEmail(ctx, "old-address", victim.ID, now); err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if u, err := s.GetUser(ctx, victim.ID); err != nil || u.EmailVerified {
			t.Errorf("GetUser = %+v, %v; want unverified", u, err)
		}
		if ids := subjects(t, s, victim.ID); !equal(ids, []string{"squatter2"}) {
			t.Errorf("identities = %q, want [squatter2] kept", ids)
		}
		if ids := sessionIDs(t, s, victim.ID); !equal(ids, []string{"squatter2-session"}) {
			t.Errorf("sessions = %q, want [squatter2-session] kept", ids)
		}
	})
}

// linkByEmailTrust: a link by email (both sides verified the address) drops
// the account's untrusted identities and, when there were any, ends the
// account's sessions and voids its codes and link flows; the linking
// sign-in's own code, stored after, stays. With none to drop it ends and
// voids nothing. The identity it links is trusted: a reset keeps it.
//
// A verified account rarely keeps an untrusted identity now that VerifyEmail
// drops them (on PostgreSQL a profile link racing the verification can leave
// one); the test makes one by marking the squatter's new account verified in
// its sign-in's transaction.
func linkByEmailTrust(t *testing.T, s db.Store) {
	ctx := t.Context()
	t.Run("an untrusted identity: dropped, with the sessions, codes and link flows", func(t *testing.T) {
		squatter := idp("squatter", "victim@example.com", false)
		victim, _, err := s.SignInWithProvider(ctx, squatter, code("squatters-code"), now, func(tx *sql.Tx, u db.User, _ string) error {
			_, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE users SET email_verified = TRUE WHERE id = %d", u.ID))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		addSession(t, s, victim.ID, "squatters-session", now)
		hold(t, s, victim.ID, "squatter")
		owner := linking(idp("owner", "Victim@Example.com", true))
		u, how := signIn(t, s, owner, "owners-code")
		if how != db.SignInLinked || u.ID != victim.ID {
			t.Fatalf("the owner's sign-in = %+v, %q; want user %d, %q", u, how, victim.ID, db.SignInLinked)
		}
		if ids := subjects(t, s, victim.ID); !equal(ids, []string{"owner"}) {
			t.Errorf("identities = %q, want [owner]: the squatter's dropped", ids)
		}
		sessionsGone(t, s, "squatters-session")
		voided(t, s, "squatter")
		noCode(t, s, "squatters-code")
		takeCode(t, s, "owners-code", victim.ID) // the owner's own sign-in goes on
		if got, how, err := s.SignInWithProvider(ctx, squatter, code("squatters-return"), now, nil); !errors.Is(err, db.ErrAccountExists) {
			t.Errorf("the squatter signing in again = %+v, %q, %v; want db.ErrAccountExists", got, how, err)
		}
		reset(t, s, victim.ID, "victims-reset")
		if ids := subjects(t, s, victim.ID); !equal(ids, []string{"owner"}) {
			t.Errorf("identities after a reset = %q, want [owner]: linked by email, trusted", ids)
		}
	})

	t.Run("no untrusted identity: nothing ended or voided", func(t *testing.T) {
		grace := verifiedUser(t, s, "grace@example.com")
		addSession(t, s, grace.ID, "graces-session", now)
		link(t, s, grace.ID, idp("graces-other", "grace@other.example.com", true), now)
		hold(t, s, grace.ID, "grace")
		if u, how := signIn(t, s, linking(idp("grace", "grace@example.com", true)), "graces-code"); how != db.SignInLinked || u.ID != grace.ID {
			t.Fatalf("the sign-in = %+v, %q; want user %d, %q", u, how, grace.ID, db.SignInLinked)
		}
		if ids := sorted(subjects(t, s, grace.ID)); !equal(ids, []string{"grace", "graces-other"}) {
			t.Errorf("identities = %q, want [grace graces-other]", ids)
		}
		if ids := sessionIDs(t, s, grace.ID); !equal(ids, []string{"graces-session"}) {
			t.Errorf("sessions = %q, want [graces-session] kept", ids)
		}
		kept(t, s, grace.ID, "grace")
		takeCode(t, s, "graces-code", grace.ID)
	})
}

// signInAfterFails: an error from after rolls the whole sign-in back: no
// user, no identity, no code.
func signInAfterFails(t *testing.T, s db.Store) {
	ctx := t.Context()
	p := idp("sub", "ada@example.com", true)
	boom := errors.New("boom")
	var seen db.User
	_, _, err := s.SignInWithProvider(ctx, p, code("c1"), now, func(_ *sql.Tx, u db.User, _ string) error {
		seen = u
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("SignInWithProvider whose after fails: %v, want after's error", err)
	}
	if seen.ID == 0 {
		t.Fatal("after was not called")
	}
	if _, err := s.GetCredentials(ctx, p.Email); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("the rolled-back user: %v, want db.ErrNoUser", err)
	}
	countUsersIs(t, s, 0)
	if ids := subjects(t, s, seen.ID); len(ids) != 0 {
		t.Errorf("identities of the rolled-back user = %q, want none", ids)
	}
	noCode(t, s, "c1")
	// Nothing was left half-done: the same person signs up afresh.
	if _, how := signIn(t, s, p, "c2"); how != db.SignInNewUser {
		t.Errorf("signing in again: %q, want %q", how, db.SignInNewUser)
	}
}

// signInReturning: an identity linked before finds its user by (provider,
// subject), whatever email the provider now gives; the same subject at
// another provider is someone else.
func signInReturning(t *testing.T, s db.Store) {
	ctx := t.Context()
	p := idp("sub", "ada@example.com", true)
	first, _ := signIn(t, s, p, "c1")
	takeCode(t, s, "c1", first.ID)

	moved := p
	moved.Email = "ada@elsewhere.example.com"
	for _, tt := range []struct {
		name string
		p    db.ProviderUser
	}{
		{"same provider user", p},
		{"email changed at the provider", moved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, how, err := s.SignInWithProvider(ctx, tt.p, code("again-"+tt.name), now.Add(time.Hour), func(_ *sql.Tx, _ db.User, how string) error {
				if how != db.SignInReturning {
					t.Errorf("after called with %q for a returning user", how)
				}
				return nil
			})
			if err != nil || how != db.SignInReturning || u != first {
				t.Errorf("SignInWithProvider = %+v, %q, %v; want %+v, %q", u, how, err, first, db.SignInReturning)
			}
			takeCode(t, s, "again-"+tt.name, first.ID)
		})
	}
	if ids := subjects(t, s, first.ID); !equal(ids, []string{"sub"}) {
		t.Errorf("identities = %q, want [sub]", ids)
	}
	countUsersIs(t, s, 1)

	t.Run("same subject, another provider", func(t *testing.T) {
		other := db.ProviderUser{Provider: "other", Subject: "sub", Email: "someone@example.com", EmailVerified: true}
		u, how := signIn(t, s, other, "c-other")
		if how != db.SignInNewUser || u.ID == first.ID {
			t.Errorf("SignInWithProvider = %+v, %q; want another new user", u, how)
		}
	})
}

// signInByEmail: a provider user whose email has an account is linked to
// it only when both the provider and the account have verified the
// address, matched in any letter case; otherwise ErrAccountExists, and
// nothing is created.
func signInByEmail(t *testing.T, s db.Store) {
	ctx := t.Context()
	for i, tt := range []struct {
		name                      string
		stored                    string // the account's email as stored
		linkByEmail               bool   // the provider may link by email
		accountVerified, provider bool
		want                      error
	}{
		{"both verified, linking by email off", "linus@example.com", false, true, true, db.ErrAccountExists},
		{"account unverified, linking by email off", "margaret@example.com", false, false, true, db.ErrAccountExists},
		{"both verified", "ada@example.com", true, true, true, nil},
		{"both verified, stored in another case", "Grace.Hopper@Example.COM", true, true, true, nil},
		{"account unverified: taken over", "Alan.Turing@Example.com", true, false, true, nil},
		{"provider unverified", "Edsger@Example.com", true, true, false, db.ErrAccountExists},
		{"neither verified", "barbara@example.com", true, false, false, db.ErrAccountExists},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var account db.User
			if tt.accountVerified {
				account = verifiedUser(t, s, tt.stored)
			} else {
				account = mustCreate(t, s, tt.stored)
			}
			users, err := s.CountUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p := idp(fmt.Sprint("sub-", i), strings.ToLower(tt.stored), tt.provider)
			p.LinkByEmail = tt.linkByEmail
			h := fmt.Sprint("code-", i)
			// after runs for a link (the owner's mail is queued in it) and
			// for nothing refused.
			var linked []string
			u, how, err := s.SignInWithProvider(ctx, p, code(h), now, func(_ *sql.Tx, _ db.User, how string) error {
				linked = append(linked, how)
				return nil
			})
			switch {
			case tt.want != nil && len(linked) != 0:
				t.Errorf("after called with %q for a refused sign-in", linked)
			case tt.want == nil && !equal(linked, []string{db.SignInLinked}):
				t.Errorf("after called with %q, want [%s]", linked, db.SignInLinked)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Errorf("SignInWithProvider = %+v, %q, %v; want %v", u, how, err, tt.want)
				}
				if ids := subjects(t, s, account.ID); len(ids) != 0 {
					t.Errorf("identities of the account = %q, want none", ids)
				}
				noCode(t, s, h)
				countUsersIs(t, s, users)
				// And no identity of anyone else: signing in again is refused again.
				if _, _, err := s.SignInWithProvider(ctx, p, code(h), now, nil); !errors.Is(err, tt.want) {
					t.Errorf("SignInWithProvider again: %v, want %v", err, tt.want)
				}
				return
			}
			want := account
			want.EmailVerified = true
			if err != nil || how != db.SignInLinked || u != want {
				t.Fatalf("SignInWithProvider = %+v, %q, %v; want %+v, %q", u, how, err, want, db.SignInLinked)
			}
			if got, err := s.GetUser(ctx, account.ID); err != nil || !got.EmailVerified {
				t.Errorf("GetUser = %+v, %v; want verified", got, err)
			}
			if ids := subjects(t, s, account.ID); !equal(ids, []string{p.Subject}) {
				t.Errorf("identities of the account = %q, want [%s]", ids, p.Subject)
			}
			takeCode(t, s, h, account.ID)
			countUsersIs(t, s, users)
			// A verified account keeps its password; an unverified one's
			// may be a squatter's, and goes.
			wantHash := "hash-of-" + tt.stored
			if !tt.accountVerified {
				wantHash = ""
			}
			if cr, err := s.GetCredentials(ctx, tt.stored); err != nil || cr.PasswordHash != wantHash {
				t.Errorf("GetCredentials = %+v, %v; want the hash %q", cr, err, wantHash)
			}
			if u, how := signIn(t, s, p, h+"-again"); how != db.SignInReturning || u.ID != account.ID {
				t.Errorf("signing in again = %+v, %q; want user %d, %q", u, how, account.ID, db.SignInReturning)
			}
		})
	}
}

// concurrentFirstSignIns: many first sign-ins of one provider user at once
// (a double click, two tabs) all succeed, as one account with one identity;
// so do many at once that link an existing verified account.
func concurrentFirstSignIns(t *testing.T, s db.Store) {
	verifiedUser(t, s, "Existing@Example.com")
	for _, tt := range []struct {
		name  string
		p     db.ProviderUser
		first string // how exactly one of them finds the user
		users int64  // accounts after it
	}{
		{"a new user", idp("new", "new@example.com", true), db.SignInNewUser, 2},
		{"linking by email", linking(idp("existing", "existing@example.com", true)), db.SignInLinked, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			users := make([]db.User, racers)
			hows := make([]string, racers)
			errs := race(t, func(ctx context.Context, i int) (err error) {
				users[i], hows[i], err = s.SignInWithProvider(ctx, tt.p, code(fmt.Sprint(tt.p.Subject, i)), now, nil)
				return err
			})
			count := map[string]int{}
			for i, err := range errs {
				if err != nil {
					t.Errorf("sign-in %d: %v", i, err)
					continue
				}
				count[hows[i]]++
				if users[i].ID != users[0].ID {
					t.Errorf("sign-in %d: user %d, sign-in 0: user %d; want one user", i, users[i].ID, users[0].ID)
				}
			}
			if t.Failed() {
				return
			}
			if count[tt.first] != 1 || count[db.SignInReturning] != racers-1 {
				t.Errorf("hows = %v; want 1 %q and %d %q", count, tt.first, racers-1, db.SignInReturning)
			}
			countUsersIs(t, s, tt.users)
			if ids := subjects(t, s, users[0].ID); !equal(ids, []string{tt.p.Subject}) {
				t.Errorf("identities = %q, want [%s]", ids, tt.p.Subject)
			}
			for i := range racers {
				takeCode(t, s, fmt.Sprint(tt.p.Subject, i), users[0].ID)
			}
		})
	}
}

// linkIdentity: a signed-in user links a provider user (RedeemOAuthCode of
// a link code), again harmlessly, trusted (a password reset keeps it); one
// linked to someone else is ErrIdentityTaken, and a session that has ended
// (or is another user's) ErrNoSession: a link is bound to the session that
// asked. A refused link spends its code, links nothing and starts no
// session; a deleted user's link code went with it (ErrNoToken).
func linkIdentity(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com") // linking needs a proved address (linkTrust)
	bob := verifiedUser(t, s, "bob@example.com")
	// Not the provider's: the signed-in owner asked for it.
	p := idp("sub", "someone.else@example.com", false)
	link(t, s, ada.ID, p, now)
	ids, err := s.ListIdentities(ctx, ada.ID)
	want := db.Identity{UserID: ada.ID, Provider: p.Provider, Subject: p.Subject, Email: p.Email, CreatedAt: now}
	if err != nil || len(ids) != 1 || ids[0].ID <= 0 {
		t.Fatalf("ListIdentities = %+v, %v; want one", ids, err)
	}
	if want.ID = ids[0].ID; ids[0] != want {
		t.Errorf("the identity = %+v, want %+v", ids[0], want)
	}
	if u, how := signIn(t, s, p, "c2"); how != db.SignInReturning || u.ID != ada.ID {
		t.Errorf("signing in with it = %+v, %q; want user %d, %q", u, how, ada.ID, db.SignInReturning)
	}

	t.Run("again", func(t *testing.T) {
		link(t, s, ada.ID, p, now.Add(time.Minute))
		if got, err := s.ListIdentities(ctx, ada.ID); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ListIdentities = %+v, %v; want only %+v", got, err, want)
		}
	})

	t.Run("trusted: a password reset keeps it", func(t *testing.T) {
		reset(t, s, ada.ID, "ada-reset")
		if got, err := s.ListIdentities(ctx, ada.ID); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ListIdentities after a reset = %+v, %v; want %+v kept", got, err, want)
		}
	})

	addSession(t, s, bob.ID, "bobs-session", now)
	carol := verifiedUser(t, s, "carol@example.com")
	addSession(t, s, carol.ID, "carols-session", now)
	if err := s.DeleteSession(ctx, carol.ID, "carols-session"); err != nil { // a logout
		t.Fatal(err)
	}
	// The last created, deleted: SQLite would give its id to the next user.
	gone := mustCreate(t, s, "gone@example.com")
	addSession(t, s, gone.ID, "gones-session", now)
	tests := []struct {
		name      string
		userID    int64
		sessionID string
		p         db.ProviderUser
		want      error
	}{
		{"another user's identity", bob.ID, "bobs-session", p, db.ErrIdentityTaken},
		{"a deleted user", gone.ID, "gones-session", idp("fresh", "fresh@example.com", true), db.ErrNoToken},
		{"a session that has ended", carol.ID, "carols-session", idp("carols", "carol@idp.example.com", true), db.ErrNoSession},
		{"another user's session", carol.ID, "bobs-session", idp("carols", "carol@idp.example.com", true), db.ErrNoSession},
		{"no session", carol.ID, "", idp("carols", "carol@idp.example.com", true), db.ErrNoSession},
	}
	for _, tt := range tests {
		c := code(strings.ReplaceAll(tt.name, " ", "-"))
		c.Link, c.LinkSessionID = &tt.p, tt.sessionID
		createCode(t, s, tt.userID, c)
	}
	if err := s.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := strings.ReplaceAll(tt.name, " ", "-")
			before := sorted(sessionIDs(t, s, tt.userID))
			got, err := s.RedeemOAuthCode(ctx, h, "challenge-"+h, newSession(), now, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("RedeemOAuthCode: %v, want %v", err, tt.want)
			}
			if tt.want != db.ErrNoToken && got.Provider != tt.p.Provider {
				t.Errorf("RedeemOAuthCode = %+v; want the code (its provider %s) with the error", got, tt.p.Provider)
			}
			if ids := subjects(t, s, tt.userID); len(ids) != 0 {
				t.Errorf("identities = %q, want none", ids)
			}
			if ids := sorted(sessionIDs(t, s, tt.userID)); !equal(ids, before) {
				t.Errorf("sessions = %q, want %q: none started", ids, before)
			}
			noCode(t, s, h) // spent
		})
	}
	if ids := subjects(t, s, ada.ID); !equal(ids, []string{"sub"}) {
		t.Errorf("ada's identities = %q, want [sub] still", ids)
	}
	// The deleted user's would-be identity is nobody's, and so is the one
	// refused for an ended session: each signs up afresh.
	for _, p := range []db.ProviderUser{idp("fresh", "fresh@example.com", true), idp("carols", "carol@idp.example.com", true)} {
		if u, how := signIn(t, s, p, "c-"+p.Subject); how != db.SignInNewUser || u.ID == carol.ID {
			t.Errorf("signing in with %s = %+v, %q; want a new user", p.Subject, u, how)
		}
	}
}

// redeemSessions numbers the sessions redemptions start.
var redeemSessions atomic.Int64

// newSession is a session for RedeemOAuthCode to store (it fills in the
// user), with a fresh id.
func newSession() db.Session {
	return db.Session{ID: fmt.Sprint("redeemed-", redeemSessions.Add(1)), CreatedAt: now, LastUsedAt: now, UserAgent: "test",
		Generation: 1, RefreshHash: "h1", RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour)}
}

// redeemAroundProof: the race the one transaction of RedeemOAuthCode
// closes. The squatter, signed in to the account it squatted through an
// untrusted identity, holds a code: a sign-in code of that identity, or a
// link code of a provider account of its own, from its session. The
// owner's reset commits just before or just after the redemption. Before:
// the code is void (ErrNoToken), no session starts and nothing is linked.
// After: the redemption's session is the reset's to end (a link code finds
// the address unproved: ErrEmailUnverified, nothing linked). Either way no
// session and no
// identity of the squatter's is left in the account. (With the session
// made in a transaction after the code's, a reset committing in between
// would leave the squatter a fresh session.)
func redeemAroundProof(t *testing.T, s db.Store) {
	for _, proof := range []struct {
		name  string
		prove func(t *testing.T, s db.Store, userID int64, h string)
	}{
		{"a password reset", reset},
	} {
		for _, kind := range []string{"sign-in", "link"} {
			for _, proofFirst := range []bool{true, false} {
				order := map[bool]string{true: "first", false: "after the redemption"}[proofFirst]
				t.Run(fmt.Sprintf("%s code, %s %s", kind, proof.name, order), func(t *testing.T) {
					ctx := t.Context()
					name := strings.ReplaceAll(fmt.Sprintf("%s-%s-%t", kind, proof.name, proofFirst), " ", "-")
					victim := squat(t, s, name, name+"@example.com") // signed in: session "<name>-session"
					own := idp(name+"-own", name+"@evil.example.com", true)
					c := code(name + "-held")
					if kind == "link" {
						c.Link, c.LinkSessionID = &own, name+"-session"
					}
					createCode(t, s, victim.ID, c)
					sess := newSession()
					if proofFirst {
						proof.prove(t, s, victim.ID, name+"-proof")
						if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil); !errors.Is(err, db.ErrNoToken) {
							t.Errorf("RedeemOAuthCode after the proof = %+v, %v; want db.ErrNoToken: voided", got, err)
						}
					} else if kind == "link" {
						// The account's address is unproved: nothing is
						// linked, and the code is spent.
						if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil); !errors.Is(err, db.ErrEmailUnverified) {
							t.Errorf("RedeemOAuthCode = %+v, %v; want db.ErrEmailUnverified", got, err)
						}
						noCode(t, s, c.Hash)
						proof.prove(t, s, victim.ID, name+"-proof")
					} else {
						got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil)
						if err != nil || got.UserID != victim.ID {
							t.Fatalf("RedeemOAuthCode = %+v, %v; want the code of user %d", got, err, victim.ID)
						}
						if ids := sessionIDs(t, s, victim.ID); !slices.Contains(ids, sess.ID) {
							t.Errorf("sessions after the redemption = %q, want %s among them", ids, sess.ID)
						}
						proof.prove(t, s, victim.ID, name+"-proof")
					}
					if ids := sessionIDs(t, s, victim.ID); len(ids) != 0 {
						t.Errorf("sessions after the proof = %q, want none", ids)
					}
					if ids := subjects(t, s, victim.ID); len(ids) != 0 {
						t.Errorf("identities = %q, want none: the squatter's dropped or never linked", ids)
					}
					// The squatter's provider account is nobody's: it signs
					// up afresh, and not into the victim's account.
					if u, how := signIn(t, s, own, name+"-own-code"); how != db.SignInNewUser || u.ID == victim.ID {
						t.Errorf("signing in with the squatter's own account = %+v, %q; want a new user, not user %d", u, how, victim.ID)
					}
				})
			}
		}
	}
}

// redeemOAuthCode: a code redeems once, with its challenge, for a session
// of its user (and, a link flow's, its identity linked); a wrong challenge
// spends it and starts nothing. (oauthCodes has the expiries, linkIdentity
// the refusals after the check.)
func redeemOAuthCode(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com")
	addSession(t, s, ada.ID, "adas-session", now)

	t.Run("a sign-in code", func(t *testing.T) {
		c := code("sign-in")
		createCode(t, s, ada.ID, c)
		sess := newSession()
		want := c
		want.UserID, want.ExpiresAt = ada.ID, db.Millis(c.ExpiresAt)
		if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil); err != nil || !sameCode(got, want) {
			t.Errorf("RedeemOAuthCode = %+v, %v; want %+v", got, err, want)
		}
		sess.UserID = ada.ID
		if got, err := s.GetSession(ctx, sess.ID); err != nil || got.UserID != ada.ID || got.RefreshHash != sess.RefreshHash {
			t.Errorf("GetSession(%s) = %+v, %v; want %+v", sess.ID, got, err, sess)
		}
		if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("RedeemOAuthCode again = %+v, %v; want db.ErrNoToken", got, err)
		}
	})

	t.Run("a link code", func(t *testing.T) {
		p := idp("adas", "ada@idp.example.com", false)
		c := code("link")
		c.Link, c.LinkSessionID = &p, "adas-session"
		createCode(t, s, ada.ID, c)
		want := c
		want.UserID, want.ExpiresAt = ada.ID, db.Millis(c.ExpiresAt)
		sess := newSession()
		before := sessionIDs(t, s, ada.ID)
		if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil); err != nil || !sameCode(got, want) {
			t.Errorf("RedeemOAuthCode = %+v (Link %+v), %v; want %+v (Link %+v)", got, got.Link, err, want, want.Link)
		}
		if ids := subjects(t, s, ada.ID); !equal(ids, []string{"adas"}) {
			t.Errorf("identities = %q, want [adas]", ids)
		}
		if ids, want := sorted(sessionIDs(t, s, ada.ID)), sorted(append(before, sess.ID)); !equal(ids, want) {
			t.Errorf("sessions = %q, want %q", ids, want)
		}
	})

	t.Run("a wrong challenge spends the code", func(t *testing.T) {
		c := code("wrong")
		createCode(t, s, ada.ID, c)
		before := sorted(sessionIDs(t, s, ada.ID))
		if got, err := s.RedeemOAuthCode(ctx, c.Hash, "not-"+c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("RedeemOAuthCode with a wrong challenge = %+v, %v; want db.ErrNoToken", got, err)
		}
		if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("RedeemOAuthCode then with the right one = %+v, %v; want db.ErrNoToken: spent", got, err)
		}
		if ids := sorted(sessionIDs(t, s, ada.ID)); !equal(ids, before) {
			t.Errorf("sessions = %q, want %q: none started", ids, before)
		}
	})

}

// concurrentLinkRedemptions: link codes of one provider user redeemed at
// once (a double click): for one user all redeem, leaving one identity and
// a session each; for different users exactly one does, the rest are
// ErrIdentityTaken (after the store's retry) and start no session.
func concurrentLinkRedemptions(t *testing.T, s db.Store) {
	ada := verifiedUser(t, s, "ada@example.com")
	owners := make([]db.User, racers)
	for i := range racers {
		owners[i] = verifiedUser(t, s, fmt.Sprintf("user%d@example.com", i))
	}
	for _, tt := range []struct {
		name   string
		p      db.ProviderUser
		userID func(i int) int64
		want   int // redemptions that succeed
	}{
		{"one user", idp("adas", "ada@example.com", true), func(int) int64 { return ada.ID }, racers},
		{"many users", idp("contested", "x@example.com", true), func(i int) int64 { return owners[i].ID }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			codes := make([]db.OAuthCode, racers)
			for i := range racers {
				c := code(fmt.Sprint(tt.p.Subject, "-code-", i))
				c.Link = &tt.p
				c.LinkSessionID = addSession(t, s, tt.userID(i), fmt.Sprint(tt.p.Subject, "-session-", i), now).ID
				createCode(t, s, tt.userID(i), c)
				codes[i] = c
			}
			errs := race(t, func(ctx context.Context, i int) error {
				_, err := s.RedeemOAuthCode(ctx, codes[i].Hash, codes[i].CodeChallenge, newSession(), now, nil)
				return err
			})
			var ok int
			var owner int64
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					owner = tt.userID(i)
				case errors.Is(err, db.ErrIdentityTaken) && tt.want == 1:
					if n := len(sessionIDs(t, s, tt.userID(i))); n != 1 {
						t.Errorf("user %d refused has %d sessions, want only the linking one", tt.userID(i), n)
					}
				default:
					t.Errorf("RedeemOAuthCode %d: %v", i, err)
				}
			}
			if ok != tt.want {
				t.Errorf("%d of %d concurrent redemptions succeeded, want %d", ok, racers, tt.want)
			}
			if ids := subjects(t, s, owner); !equal(ids, []string{tt.p.Subject}) {
				t.Errorf("identities of user %d = %q, want [%s]", owner, ids, tt.p.Subject)
			}
		})
	}
}

// sameCode reports whether two codes are equal, their Links by value.
func sameCode(a, b db.OAuthCode) bool {
	la, lb := a.Link, b.Link
	a.Link, b.Link = nil, nil
	return a == b && (la == nil) == (lb == nil) && (la == nil || *la == *lb)
}

// oauthCodes: a code redeems whole, once, before it expires: a sign-in
// code without Link, a link flow's with every field of the identity it
// carries (linked then); an unknown, spent or expired one is ErrNoToken,
// and an expired one is deleted. Storing a link code links nothing yet.
func oauthCodes(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com")
	signInCode := db.OAuthCode{Hash: "good", Provider: "google", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		ExpiresAt: when.Add(time.Minute)}
	linkCode := func(h string, p db.ProviderUser) db.OAuthCode {
		return db.OAuthCode{Hash: h, Provider: p.Provider, CodeChallenge: "challenge-" + h, Link: &p,
			LinkSessionID: "adas-session-" + h, ExpiresAt: when.Add(time.Minute)}
	}
	for _, c := range []db.OAuthCode{
		signInCode,
		linkCode("link", db.ProviderUser{Provider: "google", Subject: "ada-at-google", Email: "Ada@Gmail.example.com", EmailVerified: true}),
		linkCode("link, unverified", idp("ada-at-idp", "ada@idp.example.com", false)),
	} {
		t.Run(c.Hash, func(t *testing.T) {
			before := subjects(t, s, ada.ID)
			createCode(t, s, ada.ID, c)
			if ids := subjects(t, s, ada.ID); !equal(ids, before) {
				t.Errorf("identities after storing the code = %q, want %q: the code links nothing", ids, before)
			}
			if c.Link != nil {
				addSession(t, s, ada.ID, c.LinkSessionID, now)
				defer func() {
					if err := s.EndSession(ctx, c.LinkSessionID); err != nil {
						t.Fatal(err)
					}
				}()
			}
			want := c
			want.UserID, want.ExpiresAt = ada.ID, db.Millis(c.ExpiresAt)
			if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, nil); err != nil || !sameCode(got, want) {
				t.Errorf("RedeemOAuthCode = %+v (Link %+v), %v; want %+v (Link %+v)", got, got.Link, err, want, want.Link)
			}
			if _, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("RedeemOAuthCode again: %v, want db.ErrNoToken", err)
			}
		})
	}

	for _, x := range []db.OAuthCode{
		{Hash: "expired", ExpiresAt: now.Add(-time.Second)},
		{Hash: "expiring at now", ExpiresAt: now},
		{Hash: "live for a millisecond more", ExpiresAt: now.Add(time.Millisecond)},
		{Hash: "expired link", Link: &db.ProviderUser{Provider: "idp", Subject: "s", Email: "s@example.com"}, ExpiresAt: now},
	} {
		x.Provider, x.CodeChallenge = "idp", "challenge"
		createCode(t, s, ada.ID, x)
	}
	if _, err := s.RedeemOAuthCode(ctx, "live for a millisecond more", "challenge", newSession(), now, nil); err != nil {
		t.Errorf("RedeemOAuthCode a millisecond before its expiry: %v", err)
	}
	for _, tt := range []struct{ name, hash string }{
		{"taken already", "good"},
		{"unknown", "nope"},
		{"expired", "expired"},
		{"expired (at now exactly)", "expiring at now"},
		{"expired, tried again", "expiring at now"},
		{"expired link code", "expired link"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := s.RedeemOAuthCode(ctx, tt.hash, "challenge", newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("RedeemOAuthCode = %+v, %v; want db.ErrNoToken", c, err)
			}
		})
	}
	if ids := sorted(subjects(t, s, ada.ID)); !equal(ids, []string{"ada-at-google", "ada-at-idp"}) {
		t.Errorf("identities = %q, want the two redeemed links': expired codes link nothing", ids)
	}
	// An expired code is deleted when it is tried: none is left to prune.
	if n, err := s.PruneAccounts(ctx, now); err != nil || n != 0 {
		t.Errorf("PruneAccounts = %d, %v; want 0: the expired codes went when tried", n, err)
	}
}

// listIdentities: the user's identities, oldest first (by when they were
// linked, not by id), and nobody else's.
func listIdentities(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com")
	bob := verifiedUser(t, s, "bob@example.com")
	if got, err := s.ListIdentities(ctx, ada.ID); err != nil || len(got) != 0 {
		t.Errorf("ListIdentities with none = %+v, %v; want empty", got, err)
	}
	later := db.ProviderUser{Provider: "github", Subject: "later", Email: "ada@github.example.com"}
	earlier := db.ProviderUser{Provider: "google", Subject: "earlier", Email: "ada@gmail.example.com", EmailVerified: true}
	// Linked in this order, so the later one has the smaller id; a whole
	// second and five milliseconds past it, so that an engine comparing
	// times as text in another format would show it.
	second := when.UTC().Truncate(time.Second)
	link(t, s, ada.ID, later, second.Add(5*time.Millisecond))
	link(t, s, ada.ID, earlier, second)
	link(t, s, bob.ID, idp("bobs", "bob@example.com", true), when)
	got, err := s.ListIdentities(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []db.Identity{
		{UserID: ada.ID, Provider: "google", Subject: "earlier", Email: "ada@gmail.example.com", CreatedAt: second},
		{UserID: ada.ID, Provider: "github", Subject: "later", Email: "ada@github.example.com", CreatedAt: second.Add(5 * time.Millisecond)},
	}
	if len(got) != len(want) {
		t.Fatalf("ListIdentities = %+v, want %+v", got, want)
	}
	if got[0].ID <= 0 || got[0].ID <= got[1].ID {
		t.Errorf("identity ids %d, %d: want positive, the later-linked one first", got[0].ID, got[1].ID)
	}
	for i := range want {
		want[i].ID = got[i].ID
		if got[i] != want[i] {
			t.Errorf("ListIdentities[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// deleteIdentity unlinks the user's own identity, unless it is the
// account's last way in: no password and no other identity.
func deleteIdentity(t *testing.T, s db.Store) {
	ctx := t.Context()
	identityID := func(t *testing.T, userID int64, subject string) int64 {
		t.Helper()
		return identityOf(t, s, userID, subject)
	}
	// ada has a password; passwordless signed up through the provider.
	ada := verifiedUser(t, s, "ada@example.com")
	link(t, s, ada.ID, idp("ada", "ada@example.com", true), now)
	passwordless, _ := signIn(t, s, idp("pl", "pl@example.com", true), "c2")
	adas, pls := identityID(t, ada.ID, "ada"), identityID(t, passwordless.ID, "pl")

	for _, tt := range []struct {
		name       string
		userID, id int64
	}{
		{"another user's identity", ada.ID, pls},
		{"an unknown identity", ada.ID, adas + pls + 1000},
		{"an unknown user", ada.ID + passwordless.ID + 1000, adas},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.DeleteIdentity(ctx, tt.userID, tt.id, nil); !errors.Is(err, db.ErrNoIdentity) {
				t.Errorf("DeleteIdentity: %v, want db.ErrNoIdentity", err)
			}
		})
	}
	if got := subjects(t, s, passwordless.ID); !equal(got, []string{"pl"}) {
		t.Errorf("the other user's identities = %q, want [pl] still", got)
	}

	t.Run("the last way in", func(t *testing.T) {
		if err := s.DeleteIdentity(ctx, passwordless.ID, pls, nil); !errors.Is(err, db.ErrLastWayIn) {
			t.Errorf("DeleteIdentity: %v, want db.ErrLastWayIn", err)
		}
		if got := subjects(t, s, passwordless.ID); !equal(got, []string{"pl"}) {
			t.Errorf("identities = %q, want [pl] kept", got)
		}
		if u, how := signIn(t, s, idp("pl", "pl@example.com", true), "c3"); how != db.SignInReturning || u.ID != passwordless.ID {
			t.Errorf("signing in with it = %+v, %q; want user %d, %q", u, how, passwordless.ID, db.SignInReturning)
		}
	})
	t.Run("with a password", func(t *testing.T) {
		if err := s.DeleteIdentity(ctx, ada.ID, adas, nil); err != nil {
			t.Errorf("DeleteIdentity: %v", err)
		}
		if got := subjects(t, s, ada.ID); len(got) != 0 {
			t.Errorf("identities = %q, want none", got)
		}
		if err := s.DeleteIdentity(ctx, ada.ID, adas, nil); !errors.Is(err, db.ErrNoIdentity) {
			t.Errorf("DeleteIdentity again: %v, want db.ErrNoIdentity", err)
		}
	})
	t.Run("with another identity", func(t *testing.T) {
		link(t, s, passwordless.ID, idp("pl2", "pl@example.com", true), now.Add(time.Minute))
		if err := s.DeleteIdentity(ctx, passwordless.ID, pls, nil); err != nil {
			t.Errorf("DeleteIdentity: %v", err)
		}
		if got := subjects(t, s, passwordless.ID); !equal(got, []string{"pl2"}) {
			t.Errorf("identities = %q, want [pl2]", got)
		}
		if err := s.DeleteIdentity(ctx, passwordless.ID, identityID(t, passwordless.ID, "pl2"), nil); !errors.Is(err, db.ErrLastWayIn) {
			t.Errorf("DeleteIdentity of the one left: %v, want db.ErrLastWayIn", err)
		}
	})
}

// concurrentUnlinks: a passwordless account's two identities unlinked at
// once: one goes, the other is its last way in, every time.
func concurrentUnlinks(t *testing.T, s db.Store) {
	ctx := t.Context()
	for round := range 5 {
		u, _ := signIn(t, s, idp(fmt.Sprint("a", round), fmt.Sprintf("user%d@example.com", round), true), fmt.Sprint("ca", round))
		link(t, s, u.ID, idp(fmt.Sprint("b", round), fmt.Sprintf("user%d@example.com", round), true), now)
		list, err := s.ListIdentities(ctx, u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("ListIdentities = %+v, %v; want two", list, err)
		}
		var (
			errs  [2]error
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for i := range 2 {
			wg.Go(func() {
				<-start
				errs[i] = s.DeleteIdentity(ctx, u.ID, list[i].ID, nil)
			})
		}
		close(start)
		wg.Wait()
		var ok, last int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, db.ErrLastWayIn):
				last++
			default:
				t.Errorf("round %d: DeleteIdentity: %v, want nil or db.ErrLastWayIn", round, err)
			}
		}
		if ok != 1 || last != 1 {
			t.Errorf("round %d: %d unlinked, %d refused as the last way in; want 1 and 1", round, ok, last)
		}
		if got := subjects(t, s, u.ID); len(got) != 1 {
			t.Errorf("round %d: identities left = %q, want one", round, got)
		}
	}
}

// pruneOAuth: PruneAccounts deletes the flows and codes that expired
// before now (or at it), counts them, and keeps the live ones and the
// identities.
func pruneOAuth(t *testing.T, s db.Store) {
	ctx := t.Context()
	for _, f := range []db.OAuthFlow{
		{StateHash: "old", ExpiresAt: now.Add(-time.Minute)},
		{StateHash: "edge", ExpiresAt: now},
		{StateHash: "live", ExpiresAt: now.Add(time.Minute)},
	} {
		f.Provider, f.Nonce, f.Verifier, f.CodeChallenge, f.RedirectTo = "idp", "n", "v", "c", "https://app.example.com/"
		if err := s.CreateOAuthFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	p := idp("sub", "ada@example.com", true)
	u, _, err := s.SignInWithProvider(ctx, p, db.OAuthCode{Hash: "old", Provider: "idp", ExpiresAt: now.Add(-time.Minute)}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []db.OAuthCode{
		{Hash: "edge", Provider: "idp", Link: &db.ProviderUser{Provider: "idp", Subject: "edge", Email: "edge@example.com"}, ExpiresAt: now},
		{Hash: "live", Provider: "idp", Link: &db.ProviderUser{Provider: "idp", Subject: "live", Email: "live@example.com"}, ExpiresAt: now.Add(time.Minute)},
	} {
		createCode(t, s, u.ID, c)
	}
	if n, err := s.PruneAccounts(ctx, now); err != nil || n != 4 {
		t.Fatalf("PruneAccounts = %d, %v; want 4 (two flows, two codes)", n, err)
	}
	if n, err := s.PruneAccounts(ctx, now); err != nil || n != 0 {
		t.Errorf("PruneAccounts again = %d, %v; want 0", n, err)
	}
	if _, err := s.TakeOAuthFlow(ctx, "live", now); err != nil {
		t.Errorf("live flow pruned: %v", err)
	}
	// Refused for want of the session that asked for the link, after its
	// check: it was there.
	if _, err := s.RedeemOAuthCode(ctx, "live", "", newSession(), now, nil); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("live code: %v, want db.ErrNoSession (not pruned)", err)
	}
	if got := subjects(t, s, u.ID); !equal(got, []string{"sub"}) {
		t.Errorf("identities = %q, want [sub] kept", got)
	}
}

// deleteUserOAuth: DeleteUser takes the user's identities, link flows and
// codes along, and leaves sign-in flows and other users' alone.
func deleteUserOAuth(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com")
	p := idp("ada", "ada@example.com", true)
	link(t, s, ada.ID, p, now)
	// A link flow's code waiting for the app, of an identity not linked yet.
	c := code("adas-code")
	c.Link = &db.ProviderUser{Provider: "idp", Subject: "ada-pending", Email: "ada@example.com", EmailVerified: true}
	createCode(t, s, ada.ID, c)
	bob, _ := signIn(t, s, idp("bob", "bob@example.com", true), "bobs-code")
	for _, f := range []db.OAuthFlow{
		{StateHash: "adas-link", LinkUserID: ada.ID},
		{StateHash: "bobs-link", LinkUserID: bob.ID},
		{StateHash: "sign-in"},
	} {
		f.Provider, f.Nonce, f.Verifier, f.CodeChallenge, f.RedirectTo = "idp", "n", "v", "c", "https://app.example.com/"
		f.ExpiresAt = now.Add(time.Hour)
		if err := s.CreateOAuthFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, ada.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if got := subjects(t, s, ada.ID); len(got) != 0 {
		t.Errorf("the user's identities = %q, want none", got)
	}
	if _, err := s.TakeOAuthFlow(ctx, "adas-link", now); !errors.Is(err, db.ErrNoFlow) {
		t.Errorf("the user's link flow: %v, want db.ErrNoFlow", err)
	}
	noCode(t, s, "adas-code")
	// The provider user is nobody's now: signing in makes a new account.
	if u, how := signIn(t, s, p, "again"); how != db.SignInNewUser || u.ID == ada.ID {
		t.Errorf("signing in with the deleted user's identity = %+v, %q; want a new user", u, how)
	}

	for _, h := range []string{"bobs-link", "sign-in"} {
		if _, err := s.TakeOAuthFlow(ctx, h, now); err != nil {
			t.Errorf("flow %s: %v, want kept", h, err)
		}
	}
	takeCode(t, s, "bobs-code", bob.ID)
	if got := subjects(t, s, bob.ID); !equal(got, []string{"bob"}) {
		t.Errorf("another user's identities = %q, want [bob]", got)
	}
}
