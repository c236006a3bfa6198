package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's sign-in part: a session is stored only while the proof its
// sign-in checked still holds, read again under the account's lock.

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
