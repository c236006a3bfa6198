package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
)

// The suite's transfer part (keel users export and import): what an
// import stores reads back through an export, whole; a refused account
// leaves nothing of itself; an external_id is imported once; and a
// sign-in's rehash of an imported hash holds only while the hash it
// checked does.

// fullAccount is an account holding one of everything an export carries.
func fullAccount(id int64, email, ext string) db.TransferUser {
	at := db.Millis(when)
	return db.TransferUser{ID: id, Email: email, EmailVerified: true, PasswordHash: "$argon2id$imported-" + email,
		CreatedAt: at, ExternalID: ext, AppMetadata: `{"plan":"pro"}`, UserMetadata: `{"theme":"dark"}`,
		PasskeyHandle: []byte("handle-" + email),
		Identities:    []db.TransferIdentity{{Provider: "google", Subject: "sub-" + email, Email: email, Trusted: true, CreatedAt: at}},
		Passkeys: []db.Passkey{{ID: "pk-" + email, CredentialID: []byte("cred-" + email), Name: "phone", PublicKey: []byte("cose"),
			AttestationType: "none", AAGUID: make([]byte, 16), Transports: []string{"hybrid", "internal"}, SignCount: 7,
			UserVerified: true, BackupEligible: true, BackupState: true, CreatedAt: at, LastUsedAt: at.Add(time.Hour)}},
		Factors: []db.Factor{{ID: "f-" + email, Kind: db.FactorTOTP, Secret: []byte("sealed"), Verified: true, LastStep: 42, CreatedAt: at}},
	}
}

var importEvent = db.Event{Type: "user.created", CreatedAt: when, Actor: db.ActorCLI, Data: []byte(`{"method":"import"}`)}

// importExport: accounts imported with their ids read back through
// ExportUsers whole (identities, passkeys, the verified factor, handle,
// metadata, external id), page by page in id order; a new account gets an
// id after the imported ones; each created account has its event.
func importExport(t *testing.T, s db.Store) {
	ctx := t.Context()
	in := []db.TransferUser{fullAccount(7, "ada@example.com", "ext-ada"), fullAccount(40, "bob@example.com", "")}
	res, err := s.ImportUsers(ctx, in, importEvent)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]db.ImportResult{{ID: 7, Created: true}, {ID: 40, Created: true}}, res); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	var out []db.TransferUser
	for after := int64(0); ; {
		page, err := s.ExportUsers(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) != 1 {
			t.Fatalf("a page of %d, want at most 1", len(page))
		}
		out, after = append(out, page...), page[0].ID
	}
	for i := range in {
		in[i].Passkeys[0].UserID, in[i].Factors[0].UserID = in[i].ID, in[i].ID
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("exported (-imported +exported):\n%s", diff)
	}
	if u := mustCreate(t, s, "new@example.com"); u.ID <= 40 {
		t.Errorf("a new account got id %d, not after the imported ones", u.ID)
	}
	events, err := s.ListEvents(ctx, db.EventFilter{Type: "user.created", Limit: 10})
	if err != nil || len(events) != 2 {
		t.Errorf("%d user.created events (%v), want 2", len(events), err)
	}
}

// importRefusals: in one batch, an account refused for what another holds
// (email, id, passkey, identity, handle) leaves nothing of itself, the
// identity's case after its account's row was written (a savepoint undoes
// it), while the others go in; an external_id already an account's
// changes nothing and names that account; nothing of a refused account's
// is recorded as an event.
func importRefusals(t *testing.T, s db.Store) {
	ctx := t.Context()
	if _, err := s.ImportUsers(ctx, []db.TransferUser{fullAccount(0, "ada@example.com", "ext-ada")}, importEvent); err != nil {
		t.Fatal(err)
	}
	ada, err := s.GetCredentials(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sameEmail := fullAccount(0, "ADA@example.com", "")
	sameEmail.Passkeys, sameEmail.Identities, sameEmail.PasskeyHandle = nil, nil, nil
	sameID := fullAccount(ada.UserID, "id@example.com", "")
	sameCred := fullAccount(0, "cred@example.com", "")
	sameCred.Passkeys[0].CredentialID = []byte("cred-ada@example.com")
	sameIdentity := fullAccount(0, "idp@example.com", "")
	sameIdentity.Identities[0].Subject = "sub-ada@example.com"
	sameHandle := fullAccount(0, "handle@example.com", "")
	sameHandle.PasskeyHandle = []byte("handle-ada@example.com")
	again := fullAccount(0, "other@example.com", "ext-ada")
	res, err := s.ImportUsers(ctx, []db.TransferUser{sameEmail, sameID, fullAccount(0, "ok@example.com", ""), sameCred,
		sameIdentity, sameHandle, again}, importEvent)
	if err != nil {
		t.Fatal(err)
	}
	want := []error{db.ErrEmailTaken, db.ErrIDTaken, nil, db.ErrPasskeyTaken, db.ErrIdentityTaken, db.ErrHandleTaken, nil}
	for i, r := range res {
		if !errors.Is(r.Err, want[i]) || (want[i] == nil) != (r.Err == nil) {
			t.Errorf("account %d: %v, want %v", i, r.Err, want[i])
		}
	}
	if !res[2].Created || res[6].Created || res[6].ID != ada.UserID {
		t.Errorf("results %+v: want the third created and the last naming ada (%d), not created", res, ada.UserID)
	}
	for _, email := range []string{"id@example.com", "cred@example.com", "idp@example.com", "handle@example.com", "other@example.com"} {
		if _, err := s.GetCredentials(ctx, email); !errors.Is(err, db.ErrNoUser) {
			t.Errorf("%s: %v, want no account", email, err)
		}
	}
	if _, err := s.GetCredentials(ctx, "ok@example.com"); err != nil {
		t.Errorf("the account between the refused ones: %v", err)
	}
	events, err := s.ListEvents(ctx, db.EventFilter{Type: "user.created", Limit: 10})
	if err != nil || len(events) != 2 {
		t.Errorf("%d user.created events (%v), want 2 (ada, ok)", len(events), err)
	}
}

// rehashHolds: CreateSession with a Rehash replaces the account's hash
// when the hash the sign-in checked is still the account's, and leaves it
// (ErrSignInStale, no session) when a password was set meanwhile.
func rehashHolds(t *testing.T, s db.Store) {
	ctx := t.Context()
	u := mustCreate(t, s, "ada@example.com")
	sess := func(id, checked string) db.Session {
		return db.Session{ID: id, UserID: u.ID, CreatedAt: when, LastUsedAt: when, UserAgent: "agent", Generation: 1,
			RefreshHash: "h-" + id, RotatedAt: when, RefreshExpiresAt: when.Add(time.Hour),
			CheckedHash: checked, Rehash: "$2a$rehashed-" + id}
	}
	if err := s.CreateSession(ctx, sess("stale", "hash-of-someone-else")); !errors.Is(err, db.ErrSignInStale) {
		t.Errorf("a rehash over a changed hash: %v, want ErrSignInStale", err)
	}
	if c, _ := s.GetCredentials(ctx, "ada@example.com"); c.PasswordHash != "hash-of-ada@example.com" {
		t.Errorf("after a stale sign-in the hash is %q", c.PasswordHash)
	}
	if err := s.CreateSession(ctx, sess("fresh", "hash-of-ada@example.com")); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.GetCredentials(ctx, "ada@example.com"); c.PasswordHash != "$2a$rehashed-fresh" {
		t.Errorf("after the sign-in the hash is %q, want the rehash", c.PasswordHash)
	}
}
