package storetest

// The suite's proof-of-the-address part (issue 23): a password reset or a
// link by email that reaches an account whose address was unproved clears
// it of every way in the one who held it may have added.

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// furnish gives userID's account, signed in as session "<name>-session",
// every way in the store keeps besides the password: a verified TOTP
// factor with its recovery codes (the session is aal2 then), a passkey, a
// passkey registration under way, a second session, and what hold stores
// (a sign-in code, a link code, a link flow).
func furnish(t *testing.T, s db.Store, userID int64, name string) {
	t.Helper()
	sess := addSession(t, s, userID, name+"-session", now)
	verified(t, s, sess, name+"-factor")
	factor(t, s, userID, name+"-pending") // an enrolment under way, too
	addPasskey(t, s, userID, name+"-passkey", name+"-cred")
	if err := s.CreatePasskeyCeremony(t.Context(), db.PasskeyCeremony{ID: name + "-ceremony", UserID: userID, Kind: db.CeremonyRegister,
		Session: []byte(`{}`), ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	addSession(t, s, userID, name+"-other", now)
	hold(t, s, userID, name)
}

// cleared checks that what furnish gave userID's account under name is
// gone: factors, recovery codes, passkeys, the ceremony, every session,
// codes and link flows; and that it has no identity left.
func cleared(t *testing.T, s db.Store, userID int64, name string) {
	t.Helper()
	ctx := t.Context()
	if fs, err := s.ListFactors(ctx, userID); err != nil || len(fs) != 0 {
		t.Errorf("factors = %+v, %v; want none", fs, err)
	}
	if n, err := s.CountRecoveryCodes(ctx, userID); err != nil || n != 0 {
		t.Errorf("recovery codes = %d, %v; want none", n, err)
	}
	if ps, err := s.ListPasskeys(ctx, userID); err != nil || len(ps) != 0 {
		t.Errorf("passkeys = %+v, %v; want none", ps, err)
	}
	if _, err := s.GetPasskeyByCredential(ctx, []byte(name+"-cred")); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("the passkey's credential: %v, want db.ErrNoPasskey", err)
	}
	if _, err := s.TakePasskeyCeremony(ctx, name+"-ceremony", now); !errors.Is(err, db.ErrNoCeremony) {
		t.Errorf("the registration under way: %v, want db.ErrNoCeremony", err)
	}
	if ids := sessionIDs(t, s, userID); len(ids) != 0 {
		t.Errorf("sessions = %q, want none", ids)
	}
	voided(t, s, name)
	if ids := subjects(t, s, userID); len(ids) != 0 {
		t.Errorf("identities = %q, want none", ids)
	}
}

// resetClearsUnproved: a reset of an account whose address was unproved
// removes every identity, passkey, ceremony, factor (verified or not) and
// recovery code, ends every session and voids codes and link flows, sets
// the password and marks the address verified (unless the address changed
// since the mail). A reset of a verified account keeps its factors,
// passkeys and trusted identities, and the address stays verified.
func resetClearsUnproved(t *testing.T, s db.Store) {
	ctx := t.Context()
	t.Run("unproved: cleared, then verified", func(t *testing.T) {
		victim := mustCreate(t, s, "victim@example.com") // the squatter's password
		furnish(t, s, victim.ID, "squatter")
		reset(t, s, victim.ID, "owners-reset")
		cleared(t, s, victim.ID, "squatter")
		if u, err := s.GetUser(ctx, victim.ID); err != nil || !u.EmailVerified {
			t.Errorf("GetUser = %+v, %v; want verified", u, err)
		}
		if c, err := s.GetCredentials(ctx, "victim@example.com"); err != nil || c.PasswordHash != "reset-owners-reset" {
			t.Errorf("GetCredentials = %+v, %v; want the owner's new hash", c, err)
		}
	})

	t.Run("unproved, with a provider's untrusted identity: cleared", func(t *testing.T) {
		victim := squat(t, s, "squatter2", "victim2@example.com")
		furnish(t, s, victim.ID, "held2")
		reset(t, s, victim.ID, "owners-reset2")
		cleared(t, s, victim.ID, "held2")
		noCode(t, s, "squatter2-code")
		sessionsGone(t, s, "squatter2-session")
	})

	t.Run("unproved, the address changed since the mail: cleared, not verified", func(t *testing.T) {
		victim := mustCreate(t, s, "victim3@example.com")
		furnish(t, s, victim.ID, "squatter3")
		if err := s.CreateOneTimeToken(ctx, db.OneTimeToken{Hash: "old-address", UserID: victim.ID, Purpose: db.PurposeResetPassword,
			Email: "victim3@old.example.com", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResetPassword(ctx, "old-address", "new-hash", now, nil); err != nil {
			t.Fatal(err)
		}
		cleared(t, s, victim.ID, "squatter3")
		if u, err := s.GetUser(ctx, victim.ID); err != nil || u.EmailVerified {
			t.Errorf("GetUser = %+v, %v; want unverified", u, err)
		}
	})

	t.Run("verified: ways in kept, sessions ended, still verified", func(t *testing.T) {
		ada := verifiedUser(t, s, "ada@example.com")
		furnish(t, s, ada.ID, "ada")
		link(t, s, ada.ID, idp("adas", "ada@idp.example.com", true), now)
		reset(t, s, ada.ID, "adas-reset")
		if fs, err := s.ListFactors(ctx, ada.ID); err != nil || len(fs) != 2 {
			t.Errorf("factors = %+v, %v; want both kept", fs, err)
		}
		if n, err := s.CountRecoveryCodes(ctx, ada.ID); err != nil || n != 10 {
			t.Errorf("recovery codes = %d, %v; want 10 kept", n, err)
		}
		if ps, err := s.ListPasskeys(ctx, ada.ID); err != nil || len(ps) != 1 {
			t.Errorf("passkeys = %+v, %v; want one kept", ps, err)
		}
		if ids := subjects(t, s, ada.ID); !equal(ids, []string{"adas"}) {
			t.Errorf("identities = %q, want [adas] kept", ids)
		}
		if ids := sessionIDs(t, s, ada.ID); len(ids) != 0 {
			t.Errorf("sessions = %q, want none", ids)
		}
		voided(t, s, "ada")
		if u, err := s.GetUser(ctx, ada.ID); err != nil || !u.EmailVerified {
			t.Errorf("GetUser = %+v, %v; want verified", u, err)
		}
	})
}

// linkByEmailClearsUnproved: a link by email (its provider allowed to, the
// address verified there) into an account whose address was unproved
// clears the account as a reset of one does, and its password too, marks
// the address verified and links the identity, trusted; the squatter's
// password no longer signs in.
func linkByEmailClearsUnproved(t *testing.T, s db.Store) {
	ctx := t.Context()
	victim := mustCreate(t, s, "victim@example.com")
	furnish(t, s, victim.ID, "squatter")
	u, how := signIn(t, s, linking(idp("owner", "victim@example.com", true)), "owners-code")
	if how != db.SignInLinked || u.ID != victim.ID || !u.EmailVerified {
		t.Fatalf("the owner's sign-in = %+v, %q; want user %d, verified, %q", u, how, victim.ID, db.SignInLinked)
	}
	if ids := subjects(t, s, victim.ID); !equal(ids, []string{"owner"}) {
		t.Fatalf("identities = %q, want [owner]", ids)
	}
	takeCode(t, s, "owners-code", victim.ID) // the owner's own sign-in goes on
	if c, err := s.GetCredentials(ctx, "victim@example.com"); err != nil || c.PasswordHash != "" {
		t.Errorf("GetCredentials = %+v, %v; want no password: the squatter's is gone", c, err)
	}
	// Everything else furnish gave is gone; the owner's identity stays
	// through a reset (trusted).
	reset(t, s, victim.ID, "owners-reset")
	if ids := subjects(t, s, victim.ID); !equal(ids, []string{"owner"}) {
		t.Errorf("identities after a reset = %q, want [owner]", ids)
	}
	if fs, err := s.ListFactors(ctx, victim.ID); err != nil || len(fs) != 0 {
		t.Errorf("factors = %+v, %v; want none", fs, err)
	}
	if ps, err := s.ListPasskeys(ctx, victim.ID); err != nil || len(ps) != 0 {
		t.Errorf("passkeys = %+v, %v; want none", ps, err)
	}
	if n, err := s.CountRecoveryCodes(ctx, victim.ID); err != nil || n != 0 {
		t.Errorf("recovery codes = %d, %v; want none", n, err)
	}
	sessionsGone(t, s, "squatter-session", "squatter-other")
	voided(t, s, "squatter")
}
