package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's passkey part: every Store method over passkeys and their
// ceremonies, on every engine.

// newPasskey is a passkey of userID with credential id cred, not stored.
func newPasskey(userID int64, id, cred string) db.Passkey {
	return db.Passkey{ID: id, UserID: userID, CredentialID: []byte(cred), Name: "key " + id, PublicKey: []byte("cose " + id),
		AttestationType: "none", AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"},
		SignCount: 1, UserVerified: true, BackupEligible: true, CreatedAt: now}
}

// addPasskey stores newPasskey or fails the test.
func addPasskey(t *testing.T, s db.Store, userID int64, id, cred string) db.Passkey {
	t.Helper()
	p := newPasskey(userID, id, cred)
	if err := s.CreatePasskey(t.Context(), p, registrar(t, s, userID), nil); err != nil {
		t.Fatalf("CreatePasskey(%s): %v", id, err)
	}
	return p
}

// passkeyCeremonies: a ceremony reads back once, before it expires; its kind
// and user (none for a sign-in) come back.
func passkeyCeremonies(t *testing.T, s db.Store) {
	ctx := t.Context()
	u := mustCreate(t, s, "ada@example.com")
	reg := db.PasskeyCeremony{ID: "h-reg", UserID: u.ID, Kind: db.CeremonyRegister, Session: []byte(`{"challenge":"x"}`), ExpiresAt: now.Add(5 * time.Minute)}
	login := db.PasskeyCeremony{ID: "h-login", Kind: db.CeremonyLogin, Session: []byte(`{"challenge":"y"}`), ExpiresAt: now.Add(5 * time.Minute)}
	old := db.PasskeyCeremony{ID: "h-old", Kind: db.CeremonyLogin, Session: []byte(`{}`), ExpiresAt: now}
	for _, c := range []db.PasskeyCeremony{reg, login, old} {
		if err := s.CreatePasskeyCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []db.PasskeyCeremony{reg, login} {
		got, err := s.TakePasskeyCeremony(ctx, want.ID, now)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("TakePasskeyCeremony(%s) = %+v, %v; want %+v", want.ID, got, err, want)
		}
		if _, err := s.TakePasskeyCeremony(ctx, want.ID, now); !errors.Is(err, db.ErrNoCeremony) {
			t.Errorf("second TakePasskeyCeremony(%s): %v, want ErrNoCeremony", want.ID, err)
		}
	}
	if _, err := s.TakePasskeyCeremony(ctx, "h-old", now); !errors.Is(err, db.ErrNoCeremony) {
		t.Errorf("an expired ceremony: %v, want ErrNoCeremony", err)
	}
	if _, err := s.TakePasskeyCeremony(ctx, "h-none", now); !errors.Is(err, db.ErrNoCeremony) {
		t.Errorf("an unknown ceremony: %v, want ErrNoCeremony", err)
	}
}

// concurrentCeremonyTakes: of many takes of one ceremony at once (answers
// on several replicas), exactly one gets it.
func concurrentCeremonyTakes(t *testing.T, s db.Store) {
	c := db.PasskeyCeremony{ID: "h", Kind: db.CeremonyLogin, Session: []byte(`{}`), ExpiresAt: now.Add(time.Minute)}
	if err := s.CreatePasskeyCeremony(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.TakePasskeyCeremony(t.Context(), "h", now); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, db.ErrNoCeremony) {
				t.Errorf("TakePasskeyCeremony: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d takes won, want 1", wins.Load())
	}
}

// passkeyReads: a passkey reads back by user and by credential id; a
// credential id is registered once, across users; a missing one is
// ErrNoPasskey; a passkey of a missing user is ErrNoUser.
func passkeyReads(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	p := addPasskey(t, s, ada.ID, "p1", "cred-1")
	q := addPasskey(t, s, ada.ID, "p2", "cred-2")
	q.Transports = nil
	q.ID, q.CredentialID = "p3", []byte("cred-3")
	if err := s.CreatePasskey(ctx, q, registrar(t, s, ada.ID), nil); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListPasskeys(ctx, ada.ID)
	if err != nil || len(list) != 3 || !reflect.DeepEqual(list[0], p) || list[2].ID != "p3" || len(list[2].Transports) != 0 {
		t.Errorf("ListPasskeys = %+v, %v; want p1 (%+v), p2, p3", list, err, p)
	}
	if got, err := s.GetPasskeyByCredential(ctx, []byte("cred-1")); err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("GetPasskeyByCredential = %+v, %v; want %+v", got, err, p)
	}
	if _, err := s.GetPasskeyByCredential(ctx, []byte("cred-none")); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("an unknown credential: %v, want ErrNoPasskey", err)
	}
	if err := s.CreatePasskey(ctx, newPasskey(bob.ID, "b1", "cred-1"), registrar(t, s, bob.ID), nil); !errors.Is(err, db.ErrPasskeyTaken) {
		t.Errorf("Ada's credential id for Bob: %v, want ErrPasskeyTaken", err)
	}
	if err := s.CreatePasskey(ctx, newPasskey(ada.ID, "a9", "cred-1"), registrar(t, s, ada.ID), nil); !errors.Is(err, db.ErrPasskeyTaken) {
		t.Errorf("Ada's credential id again: %v, want ErrPasskeyTaken", err)
	}
	if err := s.CreatePasskey(ctx, newPasskey(ada.ID+bob.ID+1000, "x", "cred-x"), "no-session", nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("a passkey of a missing user: %v, want ErrNoUser", err)
	}
	if list, _ := s.ListPasskeys(ctx, bob.ID); len(list) != 0 {
		t.Errorf("Bob's passkeys: %+v, want none", list)
	}
}

// usePasskey: UsePasskey stores the new count, UV and BS and the time of
// use; a passkey read before another use (its count moved) or with another
// BE flag is ErrStale, and of many uses of one read at once one wins.
func usePasskey(t *testing.T, s db.Store) {
	ctx := t.Context()
	u := mustCreate(t, s, "ada@example.com")
	p := addPasskey(t, s, u.ID, "p1", "cred-1")
	p.UserVerified = false
	if err := s.CreatePasskey(ctx, newPasskey(u.ID, "p2", "cred-2"), registrar(t, s, u.ID), nil); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if err := s.UsePasskey(ctx, p, 7, true, true, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPasskeyByCredential(ctx, p.CredentialID)
	if err != nil || got.SignCount != 7 || !got.UserVerified || !got.BackupState || !got.BackupEligible || !got.LastUsedAt.Equal(later) {
		t.Errorf("after UsePasskey: %+v, %v", got, err)
	}
	if err := s.UsePasskey(ctx, p, 8, true, true, later); !errors.Is(err, db.ErrStale) {
		t.Errorf("UsePasskey of a stale read: %v, want ErrStale", err)
	}
	flipped := got
	flipped.BackupEligible = false
	if err := s.UsePasskey(ctx, flipped, 9, true, true, later); !errors.Is(err, db.ErrStale) {
		t.Errorf("UsePasskey with another BE flag: %v, want ErrStale", err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := s.UsePasskey(ctx, got, int64(10+i), true, false, later); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, db.ErrStale) {
				t.Errorf("UsePasskey: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent uses of one read won, want 1", wins.Load())
	}
	if other, _ := s.GetPasskeyByCredential(ctx, []byte("cred-2")); other.SignCount != 1 || !other.LastUsedAt.IsZero() {
		t.Errorf("the other passkey changed: %+v", other)
	}
}

// renamePasskey: RenamePasskey renames the user's passkey only.
func renamePasskey(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	p := addPasskey(t, s, ada.ID, "p1", "cred-1")
	got, err := s.RenamePasskey(ctx, ada.ID, "p1", "laptop")
	p.Name = "laptop"
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("RenamePasskey = %+v, %v; want %+v", got, err, p)
	}
	if _, err := s.RenamePasskey(ctx, bob.ID, "p1", "mine"); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("Bob renaming Ada's passkey: %v, want ErrNoPasskey", err)
	}
}

// deletePasskey: DeletePasskey removes the user's passkey, but not the last
// way in of an account without a password; DeleteIdentity counts passkeys.
func deletePasskey(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	addPasskey(t, s, ada.ID, "a1", "cred-a1")
	pl, _ := signIn(t, s, idp("pl", "pl@example.com", true), "c1")
	addPasskey(t, s, pl.ID, "p1", "cred-p1")
	addPasskey(t, s, pl.ID, "p2", "cred-p2")

	if err := s.DeletePasskey(ctx, ada.ID, "p1", nil); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("another user's passkey: %v, want ErrNoPasskey", err)
	}
	if err := s.DeletePasskey(ctx, ada.ID+pl.ID+1000, "a1", nil); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("an unknown user: %v, want ErrNoPasskey", err)
	}
	if err := s.DeletePasskey(ctx, ada.ID, "a1", nil); err != nil {
		t.Errorf("the only passkey of an account with a password: %v", err)
	}
	if err := s.DeletePasskey(ctx, pl.ID, "p1", nil); err != nil {
		t.Errorf("one of two passkeys beside an identity: %v", err)
	}
	ids, err := s.ListIdentities(ctx, pl.ID)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ListIdentities = %+v, %v", ids, err)
	}
	if err := s.DeleteIdentity(ctx, pl.ID, ids[0].ID, nil); err != nil {
		t.Errorf("the identity of an account with a passkey: %v, want it unlinked", err)
	}
	if err := s.DeletePasskey(ctx, pl.ID, "p2", nil); !errors.Is(err, db.ErrLastWayIn) {
		t.Errorf("the last way in: %v, want ErrLastWayIn", err)
	}
	if list, _ := s.ListPasskeys(ctx, pl.ID); len(list) != 1 {
		t.Errorf("after the refused delete: %+v, want p2 kept", list)
	}
}

// concurrentPasskeyDeletes: two removals at once of a passwordless
// account's two passkeys: one wins, the account keeps a way in.
func concurrentPasskeyDeletes(t *testing.T, s db.Store) {
	u, err := s.CreateUser(t.Context(), "pl@example.com", "", when, nil)
	if err != nil {
		t.Fatal(err)
	}
	addPasskey(t, s, u.ID, "p1", "cred-1")
	addPasskey(t, s, u.ID, "p2", "cred-2")
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { errs[i] = s.DeletePasskey(t.Context(), u.ID, fmt.Sprint("p", i+1), nil) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Errorf("DeletePasskey at once: %v and %v, want one success and one ErrLastWayIn", errs[0], errs[1])
	}
	if list, _ := s.ListPasskeys(t.Context(), u.ID); len(list) != 1 {
		t.Errorf("%d passkeys left, want 1", len(list))
	}
}

// prunePasskeys: expired ceremonies are pruned, live ones kept; a deleted
// user's passkeys and ceremonies go with it.
func prunePasskeys(t *testing.T, s db.Store) {
	ctx := t.Context()
	u := mustCreate(t, s, "ada@example.com")
	addPasskey(t, s, u.ID, "p1", "cred-1")
	for _, c := range []db.PasskeyCeremony{
		{ID: "old", Kind: db.CeremonyLogin, Session: []byte(`{}`), ExpiresAt: now},
		{ID: "live", Kind: db.CeremonyLogin, Session: []byte(`{}`), ExpiresAt: now.Add(time.Minute)},
		{ID: "reg", UserID: u.ID, Kind: db.CeremonyRegister, Session: []byte(`{}`), ExpiresAt: now.Add(time.Minute)},
	} {
		if err := s.CreatePasskeyCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneAccounts(ctx, now.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("PruneAccounts = %d, %v; want the expired ceremony", n, err)
	}
	if _, err := s.TakePasskeyCeremony(ctx, "live", now); err != nil {
		t.Errorf("the live ceremony: %v", err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPasskeyByCredential(ctx, []byte("cred-1")); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("a deleted user's passkey: %v, want ErrNoPasskey", err)
	}
	if _, err := s.TakePasskeyCeremony(ctx, "reg", now); !errors.Is(err, db.ErrNoCeremony) {
		t.Errorf("a deleted user's ceremony: %v, want ErrNoCeremony", err)
	}
}

// endsWhatItStarted: removing a passkey or an identity ends the sessions it
// started (a passkey sign-in's, a provider sign-in's or a link's), and only
// those, announced once committed; a removal refused (the last way in)
// ends nothing.
func endsWhatItStarted(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)
	u, _ := signIn(t, s, idp("sub-1", "ada@example.com", true), "c1")
	viaIdentity := newSession()
	if _, err := s.RedeemOAuthCode(ctx, "c1", "challenge-c1", viaIdentity, now, nil); err != nil {
		t.Fatal(err)
	}
	pk := addPasskey(t, s, u.ID, "pk1", "cred1")
	viaPasskey := db.Session{ID: "via-passkey", UserID: u.ID, CreatedAt: now, LastUsedAt: now, Generation: 1, RefreshHash: "hp",
		RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour), AAL: db.AAL2, AMR: "swk user mfa", PasskeyID: pk.ID}
	if err := s.CreateSession(ctx, viaPasskey); err != nil {
		t.Fatal(err)
	}
	other := addSession(t, s, u.ID, "other", now)
	ids, err := s.ListIdentities(ctx, u.ID)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ListIdentities = %+v, %v", ids, err)
	}
	// The identity is another way in: the passkey may go.
	if err := s.DeletePasskey(ctx, u.ID, pk.ID, nil); err != nil {
		t.Fatal(err)
	}
	next := func(what string) db.SessionsEnded {
		t.Helper()
		select {
		case e := <-heard:
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing heard", what)
			return db.SessionsEnded{}
		}
	}
	if e := next("DeletePasskey"); !reflect.DeepEqual(e, db.SessionsEnded{UserID: u.ID, Sessions: []string{viaPasskey.ID}}) {
		t.Errorf("DeletePasskey announced %+v, want the passkey's session only", e)
	}
	if err := s.DeleteIdentity(ctx, u.ID, ids[0].ID, nil); !errors.Is(err, db.ErrLastWayIn) {
		t.Fatalf("DeleteIdentity of the last way in: %v, want db.ErrLastWayIn", err)
	}
	addPasskey(t, s, u.ID, "pk2", "cred2")
	if err := s.DeleteIdentity(ctx, u.ID, ids[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if e := next("DeleteIdentity"); !reflect.DeepEqual(e, db.SessionsEnded{UserID: u.ID, Sessions: []string{viaIdentity.ID}}) {
		t.Errorf("DeleteIdentity announced %+v, want the identity's session only", e)
	}
	live, err := s.LiveSessions(ctx, []string{viaIdentity.ID, viaPasskey.ID, other.ID})
	if err != nil || !slices.Equal(live, []string{other.ID}) {
		t.Errorf("LiveSessions = %v, %v; want only the password session %s", live, err, other.ID)
	}
}
