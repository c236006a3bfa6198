package storetest

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The sign-in codes of provider accounts that are gone: a code starts a
// session of the identity it went through, so it must not outlive that
// identity, whether an unlink or a reset took it.

// identityOf is the id of the user's identity with subject.
func identityOf(t *testing.T, s db.Store, userID int64, subject string) int64 {
	t.Helper()
	list, err := s.ListIdentities(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		if i.Subject == subject {
			return i.ID
		}
	}
	t.Fatalf("user %d has no identity %s", userID, subject)
	return 0
}

// unlinkVoidsCodes: DeleteIdentity deletes the sign-in codes its identity
// left, not another identity's; and RedeemOAuthCode, under the user's row
// lock, refuses (ErrNoToken, spent, no session) a sign-in code whose
// identity is no longer its user's, however the code outlived it. Before,
// the code redeemed into a session naming an identity that no longer
// existed, which no later unlink could end.
func unlinkVoidsCodes(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com")
	corp, other := idp("ada-corp", "ada@corp.example.com", true), idp("ada-other", "ada@other.example.com", true)
	link(t, s, ada.ID, corp, now)
	link(t, s, ada.ID, other, now)
	if _, how := signIn(t, s, corp, "ada-corp-held"); how != db.SignInReturning {
		t.Fatalf("signing in with corp: %q, want %q", how, db.SignInReturning)
	}
	signIn(t, s, other, "ada-other-held")
	corpID := identityOf(t, s, ada.ID, "ada-corp")
	if err := s.DeleteIdentity(ctx, ada.ID, corpID, nil); err != nil {
		t.Fatalf("DeleteIdentity(corp): %v", err)
	}
	if c, err := spend(t, s, "ada-corp-held"); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("RedeemOAuthCode(the unlinked identity's code) = %+v, %v; want db.ErrNoToken: voided", c, err)
	}
	takeCode(t, s, "ada-other-held", ada.ID)

	// A code that outlived its identity (stored by a sign-in that raced
	// the unlink or a reset), or that names another user's.
	bob := verifiedUser(t, s, "bob@example.com")
	link(t, s, bob.ID, idp("bob-corp", "bob@corp.example.com", true), now)
	for _, tt := range []struct {
		name     string
		identity int64
	}{
		{"an identity that is gone", corpID},
		{"another user's identity", identityOf(t, s, bob.ID, "bob-corp")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := code("stale-" + tt.name)
			c.IdentityID = tt.identity
			createCode(t, s, ada.ID, c)
			before := sorted(sessionIDs(t, s, ada.ID))
			if got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, nil); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("RedeemOAuthCode = %+v, %v; want db.ErrNoToken", got, err)
			}
			if ids := sorted(sessionIDs(t, s, ada.ID)); !equal(ids, before) {
				t.Errorf("sessions = %q, want %q: none started", ids, before)
			}
			noCode(t, s, c.Hash) // spent
		})
	}
}

// signInAroundReset: a returning provider sign-in whose transaction has
// stored its code and not yet committed when the owner's reset runs. The
// sign-in holds the user's row lock from before it stores the code, so the
// reset waits for it and then voids the code with the rest; without the
// lock (PostgreSQL's READ COMMITTED: the reset's delete cannot see a row
// not yet committed) the code outlived the reset and redeemed into the
// cleaned account: the squatter's, through an identity the reset had
// removed, or, of a verified account, a session the reset never ended.
func signInAroundReset(t *testing.T, s db.Store) {
	for _, tt := range []struct {
		name, id string
		setup    func(t *testing.T, name string) (db.User, db.ProviderUser)
	}{
		{"the squatter's untrusted identity, the address unproved", "racer-squatter", func(t *testing.T, name string) (db.User, db.ProviderUser) {
			return squat(t, s, name, name+"@example.com"), idp(name, name+"@example.com", false)
		}},
		{"a trusted identity of a verified account", "racer-owner", func(t *testing.T, name string) (db.User, db.ProviderUser) {
			u := verifiedUser(t, s, name+"@example.com")
			p := idp(name, name+"@corp.example.com", true)
			link(t, s, u.ID, p, now)
			return u, p
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.id
			u, p := tt.setup(t, name)
			token(t, s, name+"-reset", u.ID, db.PurposeResetPassword, now.Add(time.Hour))
			resetErr := make(chan error, 1)
			_, how, err := s.SignInWithProvider(t.Context(), p, code(name+"-racing"), now, func(*sql.Tx, db.User, string) error {
				// The sign-in's transaction is open, its code stored. The
				// reset runs now: before the fix it commits at once; with
				// it, it waits for the sign-in's row lock (give up waiting
				// after a second and let the sign-in commit).
				go func() {
					_, err := s.ResetPassword(t.Context(), name+"-reset", "new-password-hash", now, nil)
					resetErr <- err
				}()
				select {
				case err := <-resetErr:
					resetErr <- err
				case <-time.After(time.Second):
				}
				return nil
			})
			if err != nil || how != db.SignInReturning {
				t.Fatalf("SignInWithProvider = %q, %v; want %q", how, err, db.SignInReturning)
			}
			if err := <-resetErr; err != nil {
				t.Fatalf("ResetPassword: %v", err)
			}
			if c, err := spend(t, s, name+"-racing"); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("RedeemOAuthCode(the racing sign-in's code) = %+v, %v; want db.ErrNoToken: voided by the reset", c, err)
			}
		})
	}
}
