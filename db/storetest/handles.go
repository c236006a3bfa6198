package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/keelhq/keel/db"
)

// passkeyHandles: an account gets the handle of its first registration and
// keeps it (a registration with another is ErrNoCeremony), a sign-in's
// handle finds the account with its passkeys, and an account without a
// handle (its passkeys predate handles) is found by its id, 8 bytes big
// endian, until its next registration stores that as its handle.
func passkeyHandles(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	if h, err := s.PasskeyHandle(ctx, ada.ID); err != nil || h != nil {
		t.Errorf("PasskeyHandle before any passkey = %x, %v; want none", h, err)
	}
	handle := bytes.Repeat([]byte{7}, 32)
	p := newPasskey(ada.ID, "a1", "cred-a1")
	p.UserHandle = handle
	if err := s.CreatePasskey(ctx, p, registrar(t, s, ada.ID), nil); err != nil {
		t.Fatal(err)
	}
	if h, err := s.PasskeyHandle(ctx, ada.ID); err != nil || !bytes.Equal(h, handle) {
		t.Errorf("PasskeyHandle = %x, %v; want the first registration's %x", h, err, handle)
	}
	other := newPasskey(ada.ID, "a2", "cred-a2")
	other.UserHandle = bytes.Repeat([]byte{8}, 32)
	if err := s.CreatePasskey(ctx, other, registrar(t, s, ada.ID), nil); !errors.Is(err, db.ErrNoCeremony) {
		t.Errorf("a registration with another handle: %v, want ErrNoCeremony", err)
	}
	other.UserHandle = handle
	if err := s.CreatePasskey(ctx, other, registrar(t, s, ada.ID), nil); err != nil {
		t.Errorf("a second registration with the account's handle: %v", err)
	}
	id, list, err := s.PasskeyAccount(ctx, handle)
	if err != nil || id != ada.ID || len(list) != 2 || list[0].ID != "a1" || list[1].ID != "a2" {
		t.Errorf("PasskeyAccount(handle) = %d, %d passkeys, %v; want Ada's two", id, len(list), err)
	}
	if _, _, err := s.PasskeyAccount(ctx, legacy(ada.ID)); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("Ada's id as a handle, now that she has one: %v, want ErrNoPasskey", err)
	}
	if _, _, err := s.PasskeyAccount(ctx, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("an unknown handle: %v, want ErrNoPasskey", err)
	}
	if _, _, err := s.PasskeyAccount(ctx, legacy(bob.ID)); !errors.Is(err, db.ErrNoPasskey) {
		t.Errorf("the id of an account without passkeys: %v, want ErrNoPasskey", err)
	}
	// Bob's passkey predates handles (stored without one).
	addPasskey(t, s, bob.ID, "b1", "cred-b1")
	CheckLegacyPasskey(t, s, bob.ID, "b1")
}

// legacy is the user handle of a passkey registered before handles: the
// account id, 8 bytes big endian.
func legacy(userID int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(userID)) }

// CheckLegacyPasskey checks what an account whose passkey (id passkeyID)
// was registered before handles (the upgrade tests of each engine make one
// with the migrations before the handle's) finds after: its id as a handle
// finds it and the passkey; it has no handle until its next registration,
// which keeps the id as the handle for good.
func CheckLegacyPasskey(t *testing.T, s db.Store, userID int64, passkeyID string) {
	t.Helper()
	ctx := t.Context()
	if h, err := s.PasskeyHandle(ctx, userID); err != nil || h != nil {
		t.Errorf("PasskeyHandle of an account with passkeys from before = %x, %v; want none", h, err)
	}
	id, list, err := s.PasskeyAccount(ctx, legacy(userID))
	if err != nil || id != userID || len(list) != 1 || list[0].ID != passkeyID {
		t.Fatalf("PasskeyAccount(its id) = %d, %+v, %v; want account %d with %s", id, list, err, userID, passkeyID)
	}
	next := newPasskey(userID, passkeyID+"-next", "cred-"+passkeyID+"-next")
	next.UserHandle = legacy(userID)
	if err := s.CreatePasskey(ctx, next, registrar(t, s, userID), nil); err != nil {
		t.Fatalf("its next registration, with its id as the handle: %v", err)
	}
	if h, err := s.PasskeyHandle(ctx, userID); err != nil || !bytes.Equal(h, legacy(userID)) {
		t.Errorf("PasskeyHandle after = %x, %v; want its id", h, err)
	}
	if id, list, err := s.PasskeyAccount(ctx, legacy(userID)); err != nil || id != userID || len(list) != 2 {
		t.Errorf("PasskeyAccount(its id) after = %d, %d passkeys, %v; want both", id, len(list), err)
	}
}
