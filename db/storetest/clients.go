package storetest

// The OAuth client registry (clients.Store), held to one behaviour on every
// engine: clients read back whole, ids are unique, deletion, last use only
// moving forward, idle dynamic clients going while the operator's stay, and
// the constraints the database keeps on its own.

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/internal/clients"
)

// RunClients runs the client registry's suite. open returns a store on a
// new, empty, migrated database for one subtest and arranges its closing
// with t.Cleanup.
func RunClients(t *testing.T, open func(t *testing.T) clients.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s clients.Store)
	}{
		{"a client reads back whole, times in UTC to the millisecond; a missing one is ErrNoClient", clientRoundTrip},
		{"ListClients lists every client, oldest first", listClients},
		{"an id is registered once", uniqueClientIDs},
		{"DeleteClient removes the client; a missing one is ErrNoClient", deleteClient},
		{"TouchClient moves the last use forward only; a missing client is no error", touchClient},
		{"DeleteIdleDynamicClients removes dynamic clients unused since a time, never the operator's", deleteIdleDynamic},
		{"the database refuses a secret on a public client, none on a confidential one, an unknown kind", clientConstraints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// clientsT0 is a time with sub-millisecond digits, not in UTC.
var clientsT0 = time.Date(2026, 12, 7, 4, 5, 6, 789_654_321, time.FixedZone("CET", 3600))

// testClient is a confidential web client, registered d after clientsT0.
func testClient(id string, d time.Duration) clients.Client {
	return clients.Client{
		ID: id, Name: "App " + id, SecretHash: clients.HashSecret("secret " + id), Kind: clients.Confidential,
		AppType: clients.Web, RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb?x=1"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes:             []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken, clients.GrantClientCredentials},
		Scopes:                 []string{clients.ScopeOpenID, clients.ScopeEmail, clients.ScopeAdmin},
		CreatedAt:              clientsT0.Add(d),
	}
}

// publicClient is a public native client without post-logout URIs,
// registered d after clientsT0, dynamic or not.
func publicClient(id string, d time.Duration, dynamic bool) clients.Client {
	return clients.Client{
		ID: id, Name: "CLI " + id, Kind: clients.Public, AppType: clients.Native,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{clients.GrantAuthorizationCode},
		Scopes: []string{clients.ScopeOpenID}, Dynamic: dynamic, CreatedAt: clientsT0.Add(d),
	}
}

// storedClient is c as it reads back: times in UTC to the millisecond.
func storedClient(c clients.Client) clients.Client {
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	if !c.LastUsedAt.IsZero() {
		c.LastUsedAt = c.LastUsedAt.UTC().Truncate(time.Millisecond)
	}
	return c
}

func mustCreateClient(t *testing.T, s clients.Store, cs ...clients.Client) {
	t.Helper()
	for _, c := range cs {
		if err := s.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
}

func mustGetClient(t *testing.T, s clients.Store, id string) clients.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c
}

func clientIDs(t *testing.T, s clients.Store) []string {
	t.Helper()
	cs, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func clientRoundTrip(t *testing.T, s clients.Store) {
	conf, pub := testClient("kc_conf", 0), publicClient("kc_pub", time.Second, true)
	mustCreateClient(t, s, conf, pub)
	for _, want := range []clients.Client{conf, pub} {
		if diff := cmp.Diff(storedClient(want), mustGetClient(t, s, want.ID)); diff != "" {
			t.Errorf("client %s read back (-want +got):\n%s", want.ID, diff)
		}
	}
	if got := mustGetClient(t, s, "kc_conf").CreatedAt.Location(); got != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got)
	}
	if _, err := s.GetClient(t.Context(), "kc_missing"); !errors.Is(err, clients.ErrNoClient) {
		t.Errorf("GetClient of a missing client: %v, want ErrNoClient", err)
	}
}

func listClients(t *testing.T, s clients.Store) {
	if ids := clientIDs(t, s); len(ids) != 0 {
		t.Fatalf("a new database lists %v, want none", ids)
	}
	mustCreateClient(t, s, testClient("kc_b", 2*time.Second), publicClient("kc_c", 0, false), testClient("kc_a", 2*time.Second))
	if diff := cmp.Diff([]string{"kc_c", "kc_a", "kc_b"}, clientIDs(t, s)); diff != "" {
		t.Errorf("ListClients (-want +got):\n%s", diff)
	}
	all, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(storedClient(publicClient("kc_c", 0, false)), all[0]); diff != "" {
		t.Errorf("a listed client (-want +got):\n%s", diff)
	}
}

func uniqueClientIDs(t *testing.T, s clients.Store) {
	mustCreateClient(t, s, testClient("kc_same", 0))
	other := publicClient("kc_same", time.Second, false)
	if err := s.CreateClient(t.Context(), other); !errors.Is(err, clients.ErrClientTaken) {
		t.Fatalf("a second client kc_same: %v, want ErrClientTaken", err)
	}
	if got := mustGetClient(t, s, "kc_same"); got.Kind != clients.Confidential {
		t.Errorf("the first client was replaced: %+v", got)
	}
}

func deleteClient(t *testing.T, s clients.Store) {
	mustCreateClient(t, s, testClient("kc_keep", 0), testClient("kc_gone", 0))
	if err := s.DeleteClient(t.Context(), "kc_gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(t.Context(), "kc_gone"); !errors.Is(err, clients.ErrNoClient) {
		t.Errorf("GetClient of a deleted client: %v, want ErrNoClient", err)
	}
	if err := s.DeleteClient(t.Context(), "kc_gone"); !errors.Is(err, clients.ErrNoClient) {
		t.Errorf("DeleteClient again: %v, want ErrNoClient", err)
	}
	if diff := cmp.Diff([]string{"kc_keep"}, clientIDs(t, s)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}

func touchClient(t *testing.T, s clients.Store) {
	mustCreateClient(t, s, testClient("kc_used", 0), testClient("kc_other", 0))
	at := clientsT0.Add(time.Hour + 123*time.Microsecond)
	if err := s.TouchClient(t.Context(), "kc_used", at); err != nil {
		t.Fatal(err)
	}
	if got, want := mustGetClient(t, s, "kc_used").LastUsedAt, at.UTC().Truncate(time.Millisecond); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("LastUsedAt = %v, want %v in UTC", got, want)
	}
	if err := s.TouchClient(t.Context(), "kc_used", at.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := mustGetClient(t, s, "kc_used").LastUsedAt; !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("an earlier use moved LastUsedAt back to %v", got)
	}
	if got := mustGetClient(t, s, "kc_other").LastUsedAt; !got.IsZero() {
		t.Errorf("another client's LastUsedAt = %v, want zero", got)
	}
	if err := s.TouchClient(t.Context(), "kc_missing", at); err != nil {
		t.Errorf("TouchClient of a missing client: %v", err)
	}
}

func deleteIdleDynamic(t *testing.T, s clients.Store) {
	cutoff := clientsT0.Add(10 * time.Hour)
	mustCreateClient(t, s,
		publicClient("kc_idle", 0, true),              // registered before, never used: goes
		publicClient("kc_used_long_ago", 0, true),     // used before: goes
		publicClient("kc_used_since", 0, true),        // used after: stays
		publicClient("kc_new", 11*time.Hour, true),    // registered after: stays
		publicClient("kc_operators", 0, false),        // the operator's: stays
		testClient("kc_operators_conf", 0),            // the operator's: stays
		publicClient("kc_just_before", 0, true),       // used a millisecond before: goes
		publicClient("kc_at_cutoff", time.Hour, true), // used at the cutoff: stays
	)
	for id, at := range map[string]time.Time{
		"kc_used_long_ago": clientsT0.Add(time.Hour), "kc_used_since": cutoff.Add(time.Hour),
		"kc_operators": clientsT0.Add(time.Hour), "kc_just_before": cutoff.Add(-time.Millisecond),
		"kc_at_cutoff": cutoff,
	} {
		if err := s.TouchClient(t.Context(), id, at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteIdleDynamicClients(t.Context(), cutoff)
	if err != nil || n != 3 {
		t.Errorf("DeleteIdleDynamicClients = %d, %v; want 3", n, err)
	}
	want := []string{"kc_operators", "kc_operators_conf", "kc_used_since", "kc_at_cutoff", "kc_new"}
	if diff := cmp.Diff(want, clientIDs(t, s)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	if n, err := s.DeleteIdleDynamicClients(t.Context(), cutoff); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want 0", n, err)
	}
}

func clientConstraints(t *testing.T, s clients.Store) {
	pubWithSecret := publicClient("kc_p", 0, false)
	pubWithSecret.SecretHash = clients.HashSecret("x")
	confWithout := testClient("kc_c", 0)
	confWithout.SecretHash = ""
	otherKind := testClient("kc_k", 0)
	otherKind.Kind = "secret"
	otherApp := testClient("kc_a", 0)
	otherApp.AppType = "desktop"
	for _, c := range []clients.Client{pubWithSecret, confWithout, otherKind, otherApp} {
		if err := s.CreateClient(t.Context(), c); err == nil {
			t.Errorf("client %s (%s, %s, secret hash %q) was stored", c.ID, c.Kind, c.AppType, c.SecretHash)
		}
	}
	if ids := clientIDs(t, s); len(ids) != 0 {
		t.Errorf("stored: %v", ids)
	}
}
