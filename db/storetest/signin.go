package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's sign-in part: a session is stored only while the proof its
// sign-in checked still holds, and a way in is added only while the
// session that asked for it lives, each read again under the account's
// lock.

// registrar is the id of a session of userID for the writes that need
// the caller's (CreatePasskey), made at its first use.
func registrar(t *testing.T, s db.Store, userID int64) string {
	t.Helper()
	id := fmt.Sprint("registrar-", userID)
	if _, err := s.GetSession(t.Context(), id); errors.Is(err, db.ErrNoSession) {
		addSession(t, s, userID, id, when)
	} else if err != nil {
		t.Fatal(err)
	}
	return id
}

// signInHolds: CreateSession with a CheckedHash that is no longer the
// account's password hash (a reset or password change committed while the
// sign-in compared the password), or with the PasskeyID of a passkey the
// account no longer holds (a reset took it), stores nothing and returns
// ErrSignInStale; with the current hash and a held passkey it stores the
// session.
func signInHolds(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	bob := mustCreate(t, s, "bob@example.com")
	key := addPasskey(t, s, ada.ID, "adas-key", "adas-cred")
	bobs := addPasskey(t, s, bob.ID, "bobs-key", "bobs-cred")
	gone := addPasskey(t, s, ada.ID, "gone-key", "gone-cred")
	if err := s.DeletePasskey(ctx, ada.ID, gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	sess := func(id string) db.Session {
		return db.Session{ID: id, UserID: ada.ID, CreatedAt: when, LastUsedAt: when, UserAgent: "agent " + id,
			Generation: 1, RefreshHash: "h-" + id, RotatedAt: when, RefreshExpiresAt: when.Add(time.Hour)}
	}
	for _, tt := range []struct {
		name      string
		hash, key string
		want      error
	}{
		{"the password hash checked", "hash-of-ada@example.com", "", nil},
		{"a password hash changed meanwhile", "hash-of-before-the-reset", "", db.ErrSignInStale},
		{"a held passkey", "", key.ID, nil},
		{"a passkey removed meanwhile", "", gone.ID, db.ErrSignInStale},
		{"another account's passkey", "", bobs.ID, db.ErrSignInStale},
	} {
		s0 := sess(tt.name)
		s0.CheckedHash, s0.PasskeyID = tt.hash, tt.key
		err := s.CreateSession(ctx, s0)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: CreateSession = %v, want %v", tt.name, err, tt.want)
		}
		_, got := s.GetSession(ctx, s0.ID)
		if stored := got == nil; stored != (tt.want == nil) {
			t.Errorf("%s: session stored = %v (%v), want %v", tt.name, stored, got, tt.want == nil)
		}
	}
}

// addsNeedTheSession: CreatePasskey and ReplaceRecoveryCodes add nothing
// for a session that has ended (a reset ended every session after the
// request's bearer check) or is another user's: ErrNoSession.
func addsNeedTheSession(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "adas", when.Add(time.Hour))
	verified(t, s, sess, "adas-factor")
	bobs := session(t, s, "bob@example.com", "bobs", when.Add(time.Hour))
	ended := addSession(t, s, sess.UserID, "ended", when)
	if err := s.DeleteSession(ctx, sess.UserID, ended.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, session string
		want          error
	}{
		{"an ended session", ended.ID, db.ErrNoSession},
		{"another user's session", bobs.ID, db.ErrNoSession},
		{"the user's live session", sess.ID, nil},
	} {
		p := newPasskey(sess.UserID, "key-"+tt.session, "cred-"+tt.session)
		if err := s.CreatePasskey(ctx, p, tt.session, nil); !errors.Is(err, tt.want) {
			t.Errorf("CreatePasskey for %s: %v, want %v", tt.name, err, tt.want)
		}
		if err := s.ReplaceRecoveryCodes(ctx, sess.UserID, tt.session, hashes(tt.session), nil); !errors.Is(err, tt.want) {
			t.Errorf("ReplaceRecoveryCodes for %s: %v, want %v", tt.name, err, tt.want)
		}
		_, err := s.GetPasskeyByCredential(ctx, p.CredentialID)
		if added := err == nil; added != (tt.want == nil) {
			t.Errorf("%s: passkey added = %v (%v), want %v", tt.name, added, err, tt.want == nil)
		}
		n, err := s.CountRecoveryCodes(ctx, sess.UserID)
		codes := s.UseRecoveryCode(ctx, tt.session+"-0", upgradeOf(t, s, sess.ID)) == nil
		if err != nil || codes != (tt.want == nil) {
			t.Errorf("%s: its codes stored = %v (%d codes, %v), want %v", tt.name, codes, n, err, tt.want == nil)
		}
	}
}
