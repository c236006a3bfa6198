package storetest

// db.UserChanges: an operator's changes to accounts, and the user's own
// metadata.

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// createAccount: an account an admin makes reads back with its flag and
// app_metadata, and without a password when it has none; its address is
// unique in any letter case; after's error rolls it back.
func createAccount(t *testing.T, s db.Store) {
	ctx := t.Context()
	u, err := s.CreateAccount(ctx, db.NewAccount{Email: "ada@example.com", EmailVerified: true,
		AppMetadata: `{"roles":["editor"]}`, CreatedAt: when}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := db.User{ID: u.ID, Email: "ada@example.com", CreatedAt: db.Millis(when), EmailVerified: true,
		AppMetadata: `{"roles":["editor"]}`, UserMetadata: "{}"}
	if u != want {
		t.Errorf("CreateAccount = %+v, want %+v", u, want)
	}
	if c, err := s.GetCredentials(ctx, "ada@example.com"); err != nil || c.PasswordHash != "" {
		t.Errorf("credentials %+v, %v; want no password", c, err)
	}
	plain, err := s.CreateAccount(ctx, db.NewAccount{Email: "bob@example.com", PasswordHash: "h", CreatedAt: when}, nil)
	if err != nil || plain.AppMetadata != "{}" || plain.EmailVerified {
		t.Errorf("an account with defaults = %+v, %v; want {} and unverified", plain, err)
	}
	if _, err := s.CreateAccount(ctx, db.NewAccount{Email: "ADA@example.com", CreatedAt: when}, nil); !errors.Is(err, db.ErrEmailTaken) {
		t.Errorf("a taken address in another case: %v, want db.ErrEmailTaken", err)
	}
	boom := errors.New("boom")
	_, err = s.CreateAccount(ctx, db.NewAccount{Email: "cy@example.com", CreatedAt: when}, func(tx *sql.Tx, u db.User) error {
		if u.Email != "cy@example.com" {
			t.Errorf("after got %+v", u)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("after's error: %v, want it back", err)
	}
	if _, err := s.GetCredentials(ctx, "cy@example.com"); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("the rolled back account: %v, want db.ErrNoUser", err)
	}
}

// updateUser: a change sets what it names and keeps the rest; a new
// address is unverified unless the change says otherwise, and voids the
// links mailed to the old one; the same address keeps its flag; metadata is
// replaced whole; a missing account is ErrNoUser, another's address
// ErrEmailTaken, and after's error rolls it all back.
func updateUser(t *testing.T, s db.Store) {
	ctx := t.Context()
	str := func(v string) *string { return &v }
	yes, no := true, false
	ada, err := s.CreateAccount(ctx, db.NewAccount{Email: "ada@example.com", PasswordHash: "h", EmailVerified: true,
		AppMetadata: `{"plan":"pro"}`, CreatedAt: when}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "bob@example.com")
	update := func(ch db.UserChange) db.User {
		t.Helper()
		var heard [2]db.User
		before, after, err := s.UpdateUser(ctx, ada.ID, ch, func(_ *sql.Tx, b, a db.User) error { heard = [2]db.User{b, a}; return nil })
		if err != nil {
			t.Fatalf("UpdateUser(%+v): %v", ch, err)
		}
		if heard != [2]db.User{before, after} {
			t.Errorf("after heard %+v, the method returned %+v, %+v", heard, before, after)
		}
		if got, err := s.GetUser(ctx, ada.ID); err != nil || got.Email != after.Email || got.EmailVerified != after.EmailVerified {
			t.Errorf("GetUser after the change = %+v, %v; want %+v", got, err, after)
		}
		return after
	}

	u := update(db.UserChange{UserMetadata: str(`{"theme":"dark"}`)})
	if u.UserMetadata != `{"theme":"dark"}` || u.AppMetadata != `{"plan":"pro"}` || !u.EmailVerified || u.Email != "ada@example.com" {
		t.Errorf("user_metadata alone: %+v", u)
	}
	u = update(db.UserChange{AppMetadata: str(`{"roles":["admin"]}`)})
	if u.AppMetadata != `{"roles":["admin"]}` || u.UserMetadata != `{"theme":"dark"}` {
		t.Errorf("app_metadata replaced: %+v", u)
	}
	u = update(db.UserChange{Email: str("ada@example.com"), EmailVerified: nil})
	if !u.EmailVerified {
		t.Error("the same address again lost its verification")
	}

	token(t, s, "verify-old", ada.ID, db.PurposeVerifyEmail, when.Add(time.Hour))
	token(t, s, "reset-old", ada.ID, db.PurposeResetPassword, when.Add(time.Hour))
	u = update(db.UserChange{Email: str("ada@new.example.com")})
	if u.Email != "ada@new.example.com" || u.EmailVerified {
		t.Errorf("a new address = %+v; want it unverified", u)
	}
	if _, err := s.ResetPassword(ctx, "reset-old", "x", when, nil); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("a reset link mailed to the old address: %v, want db.ErrNoToken", err)
	}
	if err := s.VerifyEmail(ctx, "verify-old", ada.ID, when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("a verification link mailed to the old address: %v, want db.ErrNoToken", err)
	}
	u = update(db.UserChange{Email: str("ada@third.example.com"), EmailVerified: &yes})
	if !u.EmailVerified {
		t.Error("a new address the change says is verified is not")
	}
	u = update(db.UserChange{EmailVerified: &no})
	if u.EmailVerified || u.Email != "ada@third.example.com" {
		t.Errorf("the flag alone: %+v", u)
	}

	if _, _, err := s.UpdateUser(ctx, ada.ID, db.UserChange{Email: str("BOB@example.com")}, nil); !errors.Is(err, db.ErrEmailTaken) {
		t.Errorf("another account's address: %v, want db.ErrEmailTaken", err)
	}
	if _, _, err := s.UpdateUser(ctx, 9999, db.UserChange{EmailVerified: &yes}, nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("a missing account: %v, want db.ErrNoUser", err)
	}
	boom := errors.New("boom")
	if _, _, err := s.UpdateUser(ctx, ada.ID, db.UserChange{Email: str("rolled@example.com"), AppMetadata: str(`{}`)},
		func(*sql.Tx, db.User, db.User) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("after's error: %v, want it back", err)
	}
	if got, err := s.GetCredentials(ctx, "ada@third.example.com"); err != nil || got.UserID != ada.ID {
		t.Errorf("after a rolled back change the address is %+v, %v; want ada's still", got, err)
	}
}

// endUserSessions: every session of the account ends, announced, with its
// sign-in codes and link flows; another account's stay; a missing account
// is ErrNoUser.
func endUserSessions(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)
	ada := mustCreate(t, s, "ada@example.com")
	bob := mustCreate(t, s, "bob@example.com")
	addSession(t, s, ada.ID, "ada-1", when)
	addSession(t, s, ada.ID, "ada-2", when)
	// A grant to a client is a session too: it ends with the others.
	grant := db.Session{ID: "ada-grant", UserID: ada.ID, CreatedAt: when, LastUsedAt: when, Generation: 1,
		RefreshHash: "h-grant", RotatedAt: when, RefreshExpiresAt: when.Add(time.Hour), ClientID: "kc_client"}
	if err := s.CreateSession(ctx, grant); err != nil {
		t.Fatal(err)
	}
	addSession(t, s, bob.ID, "bob-1", when)
	hold(t, s, ada.ID, "ada")
	hold(t, s, bob.ID, "bob")
	ran := false
	n, err := s.EndUserSessions(ctx, ada.ID, func(*sql.Tx) error { ran = true; return nil })
	if err != nil || n != 3 || !ran {
		t.Fatalf("EndUserSessions = %d, %v (after ran: %v); want 3 ended", n, err, ran)
	}
	sessionsGone(t, s, "ada-1", "ada-2", "ada-grant")
	voided(t, s, "ada")
	if _, err := s.GetSession(ctx, "bob-1"); err != nil {
		t.Errorf("another account's session: %v, want kept", err)
	}
	kept(t, s, bob.ID, "bob")
	select {
	case e := <-heard:
		if !e.Ends(ada.ID, "ada-1") || !e.Ends(ada.ID, "ada-2") || e.Ends(bob.ID, "bob-1") {
			t.Errorf("announced %+v, want every session of ada's", e)
		}
	case <-time.After(10 * time.Second):
		t.Error("the ending was not announced")
	}
	if _, err := s.EndUserSessions(ctx, 9999, nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("a missing account: %v, want db.ErrNoUser", err)
	}
	boom := errors.New("boom")
	addSession(t, s, bob.ID, "bob-2", when)
	if _, err := s.EndUserSessions(ctx, bob.ID, func(*sql.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("after's error: %v, want it back", err)
	}
	if _, err := s.GetSession(ctx, "bob-2"); err != nil {
		t.Errorf("a session of a rolled back ending: %v, want kept", err)
	}
}

// resetFactors: the account's factors and recovery codes go, its passkeys
// only when asked, and every session ends, announced; what went is counted.
func resetFactors(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)
	sess := session(t, s, "ada@example.com", "ada-1", when.Add(time.Hour))
	verified(t, s, sess, "ada-totp")
	addPasskey(t, s, sess.UserID, "ada-key", "ada-cred")
	bob := session(t, s, "bob@example.com", "bob-1", when.Add(time.Hour))
	verified(t, s, bob, "bob-totp")

	var got db.FactorsReset
	r, err := s.ResetFactors(ctx, sess.UserID, false, func(_ *sql.Tx, r db.FactorsReset) error { got = r; return nil })
	if want := (db.FactorsReset{Factors: 1, RecoveryCodes: 10}); err != nil || r != want || got != want {
		t.Fatalf("ResetFactors = %+v, %v (after got %+v); want %+v", r, err, got, want)
	}
	if fs, _ := s.ListFactors(ctx, sess.UserID); len(fs) != 0 {
		t.Errorf("factors left: %+v", fs)
	}
	if n, _ := s.CountRecoveryCodes(ctx, sess.UserID); n != 0 {
		t.Errorf("%d recovery codes left", n)
	}
	if ps, _ := s.ListPasskeys(ctx, sess.UserID); len(ps) != 1 {
		t.Errorf("passkeys %+v, want the one kept", ps)
	}
	sessionsGone(t, s, "ada-1", fmt.Sprint("registrar-", sess.UserID))
	select {
	case e := <-heard:
		if !e.Ends(sess.UserID, "ada-1") || e.Ends(bob.UserID, "bob-1") {
			t.Errorf("announced %+v, want ada's sessions", e)
		}
	case <-time.After(10 * time.Second):
		t.Error("the ending was not announced")
	}
	if fs, _ := s.ListFactors(ctx, bob.UserID); len(fs) != 1 {
		t.Errorf("another account's factors: %+v, want kept", fs)
	}
	if _, err := s.GetSession(ctx, "bob-1"); err != nil {
		t.Errorf("another account's session: %v, want kept", err)
	}

	r, err = s.ResetFactors(ctx, sess.UserID, true, nil)
	if want := (db.FactorsReset{Passkeys: 1}); err != nil || r != want {
		t.Errorf("ResetFactors with passkeys = %+v, %v; want %+v", r, err, want)
	}
	if ps, _ := s.ListPasskeys(ctx, sess.UserID); len(ps) != 0 {
		t.Errorf("passkeys left: %+v", ps)
	}
	if _, err := s.ResetFactors(ctx, 9999, true, nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("a missing account: %v, want db.ErrNoUser", err)
	}
	boom := errors.New("boom")
	if _, err := s.ResetFactors(ctx, bob.UserID, true, func(*sql.Tx, db.FactorsReset) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("after's error: %v, want it back", err)
	}
	if fs, _ := s.ListFactors(ctx, bob.UserID); len(fs) != 1 {
		t.Errorf("the factors of a rolled back reset: %+v, want kept", fs)
	}
}
