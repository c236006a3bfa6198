package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's fresh proofs: a session's auth time, how each proof stamps
// it, and what a provider's proof carries to the session it starts.

// authTimeOf is the auth time GetSession reads for the session (the one
// the bearer check reads for the operations that need it; GetSessionAccess
// reads none).
func authTimeOf(t *testing.T, s db.Store, sess db.Session) time.Time {
	t.Helper()
	got, err := s.GetSession(t.Context(), sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got.AuthTime
}

// authTimes: a session is created with its auth time (or none) and reads it
// back to the millisecond, in UTC; StampAuthTime stamps only the user's own
// live session.
func authTimes(t *testing.T, s db.Store) {
	ctx := t.Context()
	none := session(t, s, "ada@example.com", "none", when.Add(time.Hour))
	if got := authTimeOf(t, s, none); !got.IsZero() {
		t.Errorf("a session created without a proof has auth time %v", got)
	}
	proved := none
	proved.ID, proved.RefreshHash, proved.AuthTime = "proved", "h2", when
	if err := s.CreateSession(ctx, proved); err != nil {
		t.Fatal(err)
	}
	if got := authTimeOf(t, s, proved); got != db.Millis(when) {
		t.Errorf("auth time = %v, want %v", got, db.Millis(when))
	}
	later := when.Add(time.Hour)
	if err := s.StampAuthTime(ctx, db.Proof{SessionID: none.ID, UserID: none.UserID, At: later}); err != nil {
		t.Fatal(err)
	}
	if got := authTimeOf(t, s, none); got != db.Millis(later) {
		t.Errorf("after StampAuthTime: %v, want %v", got, db.Millis(later))
	}
	if got := authTimeOf(t, s, proved); got != db.Millis(when) {
		t.Errorf("StampAuthTime stamped another session of the user: %v", got)
	}
	bob := mustCreate(t, s, "bob@example.com")
	for _, pr := range []db.Proof{{SessionID: "nope", UserID: none.UserID, At: later}, {SessionID: proved.ID, UserID: bob.ID, At: later}} {
		if err := s.StampAuthTime(ctx, pr); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("StampAuthTime(%+v) = %v, want db.ErrNoSession", pr, err)
		}
	}
	if got := authTimeOf(t, s, proved); got != db.Millis(when) {
		t.Errorf("another user's StampAuthTime stamped the session: %v", got)
	}
}

// codeProofs: a TOTP code proves the user once (the factor's step is
// compared and set as at an upgrade) and a recovery code is spent; each
// stamps the session, and a session that has ended stamps nothing and
// spends nothing. An upgrade to aal2 stamps the session too.
func codeProofs(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := verified(t, s, sess, "f1") // step 100, at when+1m
	if got := authTimeOf(t, s, sess); got != db.Millis(when.Add(time.Minute)) {
		t.Errorf("after ConfirmFactor's upgrade: auth time %v, want %v", got, db.Millis(when.Add(time.Minute)))
	}
	other := addSession(t, s, sess.UserID, "s2", when)
	at := when.Add(2 * time.Hour)
	pr := db.Proof{SessionID: other.ID, UserID: other.UserID, At: at}
	if err := s.ProveWithFactorCode(ctx, f.ID, 100, pr); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("ProveWithFactorCode with the step used = %v, want db.ErrCodeUsed", err)
	}
	if got := authTimeOf(t, s, other); !got.IsZero() {
		t.Errorf("a refused code stamped the session: %v", got)
	}
	gone := db.Proof{SessionID: "gone", UserID: sess.UserID, At: at}
	if err := s.ProveWithFactorCode(ctx, f.ID, 101, gone); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("ProveWithFactorCode for a session that has ended = %v, want db.ErrNoSession", err)
	}
	if err := s.ProveWithFactorCode(ctx, f.ID, 101, pr); err != nil {
		t.Fatalf("ProveWithFactorCode with the next step (not taken by the ended session's) = %v", err)
	}
	if got := authTimeOf(t, s, other); got != db.Millis(at) {
		t.Errorf("after ProveWithFactorCode: auth time %v, want %v", got, db.Millis(at))
	}
	if err := s.ProveWithFactorCode(ctx, f.ID, 101, pr); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("the same code again = %v, want db.ErrCodeUsed", err)
	}
	if err := s.UseFactorCode(ctx, f.ID, 101, upgradeOf(t, s, other.ID)); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("a code proved with, then at /mfa/verify = %v, want db.ErrCodeUsed", err)
	}

	code := hashes("rc-f1")[0]
	if err := s.ProveWithRecoveryCode(ctx, code, gone); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("ProveWithRecoveryCode for a session that has ended = %v, want db.ErrNoSession", err)
	}
	bob := session(t, s, "bob@example.com", "bobs", when.Add(time.Hour))
	if err := s.ProveWithRecoveryCode(ctx, code, db.Proof{SessionID: bob.ID, UserID: bob.UserID, At: at}); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("another user's recovery code = %v, want db.ErrCodeUsed", err)
	}
	later := at.Add(time.Hour)
	if err := s.ProveWithRecoveryCode(ctx, code, db.Proof{SessionID: sess.ID, UserID: sess.UserID, At: later}); err != nil {
		t.Fatalf("ProveWithRecoveryCode = %v", err)
	}
	if got := authTimeOf(t, s, sess); got != db.Millis(later) {
		t.Errorf("after ProveWithRecoveryCode: auth time %v, want %v", got, db.Millis(later))
	}
	if n, err := s.CountRecoveryCodes(ctx, sess.UserID); err != nil || n != 9 {
		t.Errorf("recovery codes left = %d, %v; want 9", n, err)
	}
	// Wrong codes counted, then a right one of each kind: the factor's
	// failures start again at 0, as for a code at POST /mfa/verify.
	for _, prove := range []func() error{
		func() error { return s.ProveWithFactorCode(ctx, f.ID, 200, pr) },
		func() error { return s.ProveWithRecoveryCode(ctx, hashes("rc-f1")[2], pr) },
	} {
		for range 3 {
			if _, err := s.CountFactorAttempt(ctx, f.ID, 10, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := prove(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetFactor(ctx, sess.UserID, f.ID); err != nil || got.Failures != 0 {
			t.Errorf("failures after a right proof = %d, %v; want 0", got.Failures, err)
		}
	}
	if err := s.ProveWithRecoveryCode(ctx, code, pr); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("a spent recovery code = %v, want db.ErrCodeUsed", err)
	}
}

// codeAuthTime: a sign-in code carries the provider's auth time to the
// session RedeemOAuthCode starts; a code without one starts a session
// without a proof.
func codeAuthTime(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	for _, authTime := range []time.Time{when, {}} {
		c := code("sign-in-" + authTime.Format(time.RFC3339))
		c.AuthTime = authTime
		createCode(t, s, ada.ID, c)
		sess := newSession()
		got, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := db.Millis(authTime) // the zero time stays zero
		if !got.AuthTime.Equal(want) {
			t.Errorf("the code's auth time = %v, want %v", got.AuthTime, want)
		}
		sess.UserID = ada.ID
		if got := authTimeOf(t, s, sess); !got.Equal(want) {
			t.Errorf("the session of a code with auth time %v has %v", authTime, got)
		}
	}
	// SignInWithProvider stores its code's auth time too.
	c := code("new-user")
	c.AuthTime = when
	u, _, err := s.SignInWithProvider(ctx, idp("new", "new@example.com", true), c, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession()
	if _, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, sess, now, nil); err != nil {
		t.Fatal(err)
	}
	sess.UserID = u.ID
	if got := authTimeOf(t, s, sess); got != db.Millis(when) {
		t.Errorf("a provider sign-in's session: auth time %v, want %v", got, db.Millis(when))
	}
}
