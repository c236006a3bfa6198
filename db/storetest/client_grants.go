package storetest

// A deleted client's grants end with it, on every engine: whether the
// operator deletes it (DeleteClient, keel clients delete) or it is a
// dynamic client gone idle (DeleteIdleDynamicClients), every session it was
// granted ends, announced like every session ending so the sockets it
// opened close, and the consents given to it and its pending authorization
// requests go, in the same transaction. Nothing of another client, and no
// session of keel's own, is touched.

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/provider"
)

// ClientGrantsStore is what the suite needs of an adapter: the three
// stores, over one database.
type ClientGrantsStore interface {
	db.Store
	provider.Store
	clients.Store
}

// RunClientGrants runs the suite; open returns a new, empty, migrated store
// for one subtest and arranges its closing with t.Cleanup.
func RunClientGrants(t *testing.T, open func(t *testing.T) ClientGrantsStore) {
	tests := []struct {
		name   string
		delete func(t *testing.T, s ClientGrantsStore)
	}{
		{"DeleteClient", func(t *testing.T, s ClientGrantsStore) {
			if err := s.DeleteClient(t.Context(), "kc_gone"); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteIdleDynamicClients", func(t *testing.T, s ClientGrantsStore) {
			if n, err := s.DeleteIdleDynamicClients(t.Context(), opT0.Add(time.Hour)); err != nil || n != 1 {
				t.Fatalf("DeleteIdleDynamicClients = %d, %v; want 1", n, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" ends the client's grants, announced, and nothing else", func(t *testing.T) {
			t.Parallel()
			deletedClientGrants(t, open(t), tt.delete)
		})
	}
}

func deletedClientGrants(t *testing.T, s ClientGrantsStore, deleteGone func(*testing.T, ClientGrantsStore)) {
	ctx := t.Context()
	gone := publicClient("kc_gone", 0, true)
	gone.CreatedAt = opT0
	kept := publicClient("kc_kept", 0, false) // the operator's, never idle-deleted
	kept.CreatedAt = opT0
	mustCreateClient(t, s, gone, kept)
	ada, bob := newProviderUser(t, s, "ada@example.com"), newProviderUser(t, s, "bob@example.com")
	grant := func(id string, u int64, client string) {
		t.Helper()
		sess := grantSession(id, u)
		sess.ClientID = client
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	grant("ada-gone-1", ada.ID, "kc_gone")
	grant("ada-gone-2", ada.ID, "kc_gone")
	grant("bob-gone", bob.ID, "kc_gone")
	grant("ada-kept", ada.ID, "kc_kept")
	grant("ada-own", ada.ID, "")
	for _, c := range []struct {
		user   int64
		client string
	}{{ada.ID, "kc_gone"}, {bob.ID, "kc_gone"}, {ada.ID, "kc_kept"}} {
		if err := s.SaveConsent(ctx, c.user, c.client, []string{"openid"}, opT0); err != nil {
			t.Fatal(err)
		}
	}
	for id, client := range map[string]string{"r-gone": "kc_gone", "r-kept": "kc_kept"} {
		r := testAuthRequest(id)
		r.ClientID = client
		if err := s.CreateAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	heard := watch(t, s)

	deleteGone(t, s)

	want := map[int64][]string{ada.ID: {"ada-gone-1", "ada-gone-2"}, bob.ID: {"bob-gone"}}
	got := map[int64][]string{}
	for range want {
		select {
		case e := <-heard:
			if e.Session != "" || e.Keep != "" {
				t.Errorf("heard %+v, want the client's sessions listed", e)
			}
			slices.Sort(e.Sessions)
			got[e.UserID] = e.Sessions
		case <-time.After(5 * time.Second):
			t.Fatalf("heard %v of the endings, want %v", got, want)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("heard endings %v, want %v", got, want)
	}
	select {
	case e := <-heard:
		t.Errorf("heard %+v besides", e)
	case <-time.After(100 * time.Millisecond):
	}

	for _, id := range []string{"ada-gone-1", "ada-gone-2", "bob-gone"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("session %s of the deleted client: %v, want ErrNoSession", id, err)
		}
	}
	for _, id := range []string{"ada-kept", "ada-own"} {
		if _, err := s.GetSession(ctx, id); err != nil {
			t.Errorf("session %s: %v, want it kept", id, err)
		}
	}
	for _, u := range []int64{ada.ID, bob.ID} {
		if got, err := s.Consent(ctx, u, "kc_gone"); err != nil || got != nil {
			t.Errorf("consent of user %d to the deleted client: %v, %v; want none", u, got, err)
		}
	}
	if got, err := s.Consent(ctx, ada.ID, "kc_kept"); err != nil || got == nil {
		t.Errorf("consent to another client: %v, %v; want it kept", got, err)
	}
	if _, err := s.GetAuthRequest(ctx, "r-gone"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("the deleted client's pending request: %v, want ErrNoRequest", err)
	}
	if _, err := s.GetAuthRequest(ctx, "r-kept"); err != nil {
		t.Errorf("another client's request: %v, want it kept", err)
	}
}
