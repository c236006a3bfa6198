package storetest

// The suite's part on after hooks: each change an account's owner is told
// about (a password changed or reset, a factor added, locked or removed,
// new recovery codes, a provider account linked or unlinked, a passkey
// added or removed), and each change an event records (a sign-in, a
// verified address, a session ended, an account deleted), runs its
// caller's hook in its own transaction, so that the mail and the event are
// written with the change: the hook's error rolls it back.

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// afterHooks: every store method that makes such a change runs after in
// its transaction, live (a statement in it runs); after's error is the
// method's, and the change is not made; without an error it is.
func afterHooks(t *testing.T, s db.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	ran := 0
	hook := func(fail bool) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			ran++
			var one int
			if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				return fmt.Errorf("the transaction is not live: %w", err)
			}
			if fail {
				return boom
			}
			return nil
		}
	}
	hash := func(email string) string {
		cr, err := s.GetCredentials(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return cr.PasswordHash
	}
	passkeys := func(userID int64) int {
		ps, err := s.ListPasskeys(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}
	factorOf := func(userID int64, id string) (db.Factor, error) { return s.GetFactor(ctx, userID, id) }
	linkCodes := 0
	for _, tt := range []struct {
		name string
		// setup makes the account; it returns the change, made with after,
		// and whether it is made.
		setup func(t *testing.T) (change func(after func(*sql.Tx) error) error, made func() bool)
	}{
		{"ChangePassword", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "change@example.com")
			return func(after func(*sql.Tx) error) error { return s.ChangePassword(ctx, u.ID, "changed", "", after) },
				func() bool { return hash(u.Email) == "changed" }
		}},
		{"ResetPassword, with the user's id", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "reset@example.com")
			token(t, s, "reset-token", u.ID, db.PurposeResetPassword, now.Add(time.Hour))
			return func(after func(*sql.Tx) error) error {
					_, err := s.ResetPassword(ctx, "reset-token", "reset", now, func(tx *sql.Tx, id int64) error {
						if id != u.ID {
							return fmt.Errorf("after got user %d, want %d", id, u.ID)
						}
						return after(tx)
					})
					return err
				},
				func() bool { return hash(u.Email) == "reset" }
		}},
		{"ConfirmFactor", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "confirm@example.com", "confirm", when.Add(time.Hour))
			f := factor(t, s, sess.UserID, "confirm-factor")
			return func(after func(*sql.Tx) error) error {
					return s.ConfirmFactor(ctx, f.ID, 100, hashes("confirm"), upgradeOf(t, s, sess.ID), after)
				},
				func() bool { g, err := factorOf(sess.UserID, f.ID); return err == nil && g.Verified }
		}},
		{"CountFactorAttempt, the count that locks", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "lock@example.com", "lock", when.Add(time.Hour))
			f := verified(t, s, sess, "lock-factor")
			// Below the bound it does not run.
			if _, err := s.CountFactorAttempt(ctx, f.ID, 2, func(*sql.Tx) error { return boom }); err != nil {
				t.Fatalf("the first of two counts: %v, want it counted without after", err)
			}
			return func(after func(*sql.Tx) error) error { _, err := s.CountFactorAttempt(ctx, f.ID, 2, after); return err },
				func() bool { g, err := factorOf(sess.UserID, f.ID); return err == nil && g.Failures == 2 }
		}},
		{"DeleteFactor", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "unfactor@example.com", "unfactor", when.Add(time.Hour))
			f := verified(t, s, sess, "unfactor-factor")
			return func(after func(*sql.Tx) error) error { return s.DeleteFactor(ctx, sess.UserID, f.ID, after) },
				func() bool { _, err := factorOf(sess.UserID, f.ID); return errors.Is(err, db.ErrNoFactor) }
		}},
		{"ReplaceRecoveryCodes", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "codes@example.com", "codes", when.Add(time.Hour))
			verified(t, s, sess, "codes-factor")
			return func(after func(*sql.Tx) error) error {
					return s.ReplaceRecoveryCodes(ctx, sess.UserID, sess.ID, hashes("replaced"), after)
				},
				func() bool { return s.UseRecoveryCode(ctx, "replaced-0", upgradeOf(t, s, sess.ID)) == nil }
		}},
		{"SignInWithProvider, a link by email", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := verifiedUser(t, s, "byemail@example.com")
			p := linking(idp("byemail", u.Email, true))
			return func(after func(*sql.Tx) error) error {
					_, _, err := s.SignInWithProvider(ctx, p, code("byemail-code"), now, func(tx *sql.Tx, got db.User, how string) error {
						if got.ID != u.ID || how != db.SignInLinked {
							return fmt.Errorf("after got user %d, %q; want %d, %q", got.ID, how, u.ID, db.SignInLinked)
						}
						return after(tx)
					})
					return err
				},
				func() bool { return equal(subjects(t, s, u.ID), []string{"byemail"}) }
		}},
		{"RedeemOAuthCode, a link code", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := verifiedUser(t, s, "linker@example.com")
			p := idp("linked", "elsewhere@example.com", true)
			linkingSession := addSession(t, s, u.ID, "linker", now)
			return func(after func(*sql.Tx) error) error {
					// A code whose redemption failed is spent: a new one each time.
					linkCodes++
					c := db.OAuthCode{Hash: fmt.Sprint("linker-code-", linkCodes), Provider: p.Provider, CodeChallenge: "challenge",
						Link: &p, LinkSessionID: linkingSession.ID, ExpiresAt: now.Add(time.Minute)}
					createCode(t, s, u.ID, c)
					_, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, newSession(), now, func(tx *sql.Tx, got db.OAuthCode) error {
						if got.Hash != c.Hash || got.Link == nil {
							return fmt.Errorf("after got the code %+v, want %s with its link", got, c.Hash)
						}
						return after(tx)
					})
					return err
				},
				func() bool { return equal(subjects(t, s, u.ID), []string{"linked"}) }
		}},
		{"DeleteIdentity", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := verifiedUser(t, s, "unlink@example.com")
			link(t, s, u.ID, idp("unlinked", "unlink@example.com", true), now)
			ids, err := s.ListIdentities(ctx, u.ID)
			if err != nil || len(ids) != 1 {
				t.Fatalf("ListIdentities = %+v, %v", ids, err)
			}
			return func(after func(*sql.Tx) error) error { return s.DeleteIdentity(ctx, u.ID, ids[0].ID, after) },
				func() bool { return len(subjects(t, s, u.ID)) == 0 }
		}},
		{"CreatePasskey", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "passkey@example.com")
			sid := registrar(t, s, u.ID)
			return func(after func(*sql.Tx) error) error {
					return s.CreatePasskey(ctx, newPasskey(u.ID, "added", "added-cred"), sid, after)
				},
				func() bool { return passkeys(u.ID) == 1 }
		}},
		{"DeletePasskey", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "unpasskey@example.com")
			addPasskey(t, s, u.ID, "removed", "removed-cred")
			return func(after func(*sql.Tx) error) error { return s.DeletePasskey(ctx, u.ID, "removed", after) },
				func() bool { return passkeys(u.ID) == 0 }
		}},
		// The changes an event records (docs/admin.md, "Events and the
		// audit trail"), written by an after hook in the change's
		// transaction.
		{"CreateSession, a sign-in", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "signin@example.com")
			return func(after func(*sql.Tx) error) error {
					sess := newSession()
					sess.ID, sess.UserID = "signed-in", u.ID
					return s.CreateSession(ctx, sess, after)
				},
				func() bool { return len(sessionIDs(t, s, u.ID)) == 1 }
		}},
		{"VerifyEmail", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "verifies@example.com")
			token(t, s, "verify-token", u.ID, db.PurposeVerifyEmail, now.Add(time.Hour))
			return func(after func(*sql.Tx) error) error { return s.VerifyEmail(ctx, "verify-token", u.ID, now, after) },
				func() bool { g, err := s.GetUser(ctx, u.ID); return err == nil && g.EmailVerified }
		}},
		{"DeleteSession, a logout", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "logout@example.com")
			addSession(t, s, u.ID, "logs-out", now)
			return func(after func(*sql.Tx) error) error { return s.DeleteSession(ctx, u.ID, "logs-out", after) },
				func() bool { return len(sessionIDs(t, s, u.ID)) == 0 }
		}},
		{"EndSession, a refresh token reused", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "reused@example.com")
			addSession(t, s, u.ID, "reused", now)
			return func(after func(*sql.Tx) error) error { return s.EndSession(ctx, "reused", after) },
				func() bool { return len(sessionIDs(t, s, u.ID)) == 0 }
		}},
		{"DeleteSessions", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "logout-all@example.com")
			addSession(t, s, u.ID, "all-1", now)
			addSession(t, s, u.ID, "all-2", now)
			return func(after func(*sql.Tx) error) error { return s.DeleteSessions(ctx, u.ID, "", after) },
				func() bool { return len(sessionIDs(t, s, u.ID)) == 0 }
		}},
		{"UseFactorCode", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "totp-in@example.com", "totp-in", when.Add(time.Hour))
			f := verified(t, s, sess, "totp-in-factor")
			return func(after func(*sql.Tx) error) error {
					return s.UseFactorCode(ctx, f.ID, 101, upgradeOf(t, s, sess.ID), after)
				},
				func() bool { g, err := factorOf(sess.UserID, f.ID); return err == nil && g.LastStep == 101 }
		}},
		{"UseRecoveryCode", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			sess := session(t, s, "recovery-in@example.com", "recovery-in", when.Add(time.Hour))
			verified(t, s, sess, "recovery-in-factor")
			return func(after func(*sql.Tx) error) error {
					return s.UseRecoveryCode(ctx, "rc-recovery-in-factor-0", upgradeOf(t, s, sess.ID), after)
				},
				func() bool {
					n, err := s.CountRecoveryCodes(ctx, sess.UserID)
					return err == nil && n == 9
				}
		}},
		{"DeleteUser", func(t *testing.T) (func(func(*sql.Tx) error) error, func() bool) {
			u := mustCreate(t, s, "deleted@example.com")
			return func(after func(*sql.Tx) error) error { return s.DeleteUser(ctx, u.ID, after) },
				func() bool { _, err := s.GetUser(ctx, u.ID); return errors.Is(err, db.ErrNoUser) }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			change, made := tt.setup(t)
			ran = 0
			if err := change(hook(true)); !errors.Is(err, boom) || ran != 1 {
				t.Fatalf("with an after that fails: %v, after ran %d times; want after's error, once", err, ran)
			}
			if made() {
				t.Fatal("the change was made although its after failed")
			}
			if err := change(hook(false)); err != nil || ran != 2 {
				t.Fatalf("with an after that succeeds: %v, after ran %d times in all; want no error, twice", err, ran)
			}
			if !made() {
				t.Error("the change was not made")
			}
		})
	}
}
