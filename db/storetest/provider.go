package storetest

// The OpenID Provider's store (provider.Store), held to one behaviour on
// every engine: a request reads back as stored; it is accepted once, while
// it lives, and only then starts its grant's session; its code is saved
// once, found by its hash and spent once, even by concurrent exchanges;
// expired requests are pruned; consents are remembered per user and client.

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/provider"
)

// ProviderStore is what the provider suite needs of an adapter: both
// stores, over one database.
type ProviderStore interface {
	db.Store
	provider.Store
}

// RunProvider runs the provider's suite; open returns a new, empty, migrated
// store for one subtest and arranges its closing with t.Cleanup.
func RunProvider(t *testing.T, open func(t *testing.T) ProviderStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s ProviderStore)
	}{
		{"a request reads back as stored, times in UTC to the millisecond", authRequestRoundTrip},
		{"a request is accepted once, while it lives, and then starts the grant's session", acceptAuthRequest},
		{"a code is saved once, found by its hash, and spent once", authCodes},
		{"concurrent exchanges of one code: exactly one spends it", concurrentSpends},
		{"expired requests are pruned, live ones kept", pruneAuthRequests},
		{"consents are remembered per user and client", consents},
		{"a grant's session reads and lists with its client", grantSessions},
		{"withdrawn consent ends the user's grants to that client only", withdrawConsent},
		{"a banned user's accept starts no grant", bannedGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// opT0 is a time with sub-millisecond digits, not in UTC.
var opT0 = time.Date(2026, 12, 7, 4, 5, 6, 789_654_321, time.FixedZone("CET", 3600))

func testAuthRequest(id string) provider.AuthRequest {
	return provider.AuthRequest{
		ID: id, ClientID: "kc_test", RedirectURI: "https://app.example/cb", Scopes: []string{"openid", "email"},
		State: "st", Nonce: "n", ResponseType: "code", ResponseMode: "query", CodeChallenge: "ch", MaxAge: 300,
		Prompt: []string{"login"}, ACRValues: []string{"aal2"}, Resource: "https://api.example",
		CreatedAt: opT0, ExpiresAt: opT0.Add(10 * time.Minute),
	}
}

// grantSession is the session that accepting a request for u starts.
func grantSession(id string, userID int64) db.Session {
	return db.Session{ID: id, UserID: userID, CreatedAt: opT0, LastUsedAt: opT0, UserAgent: "app",
		Generation: 1, RefreshHash: "h-" + id, RotatedAt: opT0, RefreshExpiresAt: opT0.Add(time.Hour),
		AAL: db.AAL2, AMR: "pwd otp mfa", AuthTime: opT0.Add(-time.Minute), ClientID: "kc_test"}
}

func newProviderUser(t *testing.T, s db.Store, email string) db.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "x", opT0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func authRequestRoundTrip(t *testing.T, s ProviderStore) {
	r := testAuthRequest("r1")
	if err := s.CreateAuthRequest(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthRequest(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.CreatedAt, want.ExpiresAt = db.Millis(r.CreatedAt), db.Millis(r.ExpiresAt)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
	// No max_age reads back as -1, no prompt as none.
	r2 := testAuthRequest("r2")
	r2.MaxAge, r2.Prompt, r2.ACRValues = -1, nil, nil
	if err := s.CreateAuthRequest(t.Context(), r2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAuthRequest(t.Context(), "r2"); err != nil || got.MaxAge != -1 || got.Prompt != nil || got.ACRValues != nil {
		t.Errorf("without max_age: %+v, %v", got, err)
	}
	if _, err := s.GetAuthRequest(t.Context(), "nope"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("missing request: %v, want ErrNoRequest", err)
	}
}

func acceptAuthRequest(t *testing.T, s ProviderStore) {
	u := newProviderUser(t, s, "ada@example.com")
	for _, id := range []string{"r1", "r2"} {
		if err := s.CreateAuthRequest(t.Context(), testAuthRequest(id)); err != nil {
			t.Fatal(err)
		}
	}
	now := opT0.Add(time.Minute)
	sess := grantSession("g1", u.ID)
	if err := s.AcceptAuthRequest(t.Context(), "r1", sess, db.AAL2, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthRequest(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done || got.UserID != u.ID || got.SessionID != "g1" || got.ACR != db.AAL2 || got.AMR != "pwd otp mfa" ||
		!got.AuthTime.Equal(db.Millis(sess.AuthTime)) {
		t.Errorf("accepted request: %+v", got)
	}
	if _, err := s.GetSession(t.Context(), "g1"); err != nil {
		t.Errorf("the grant's session: %v", err)
	}
	// Accepted already: refused, and no second session starts.
	if err := s.AcceptAuthRequest(t.Context(), "r1", grantSession("g2", u.ID), db.AAL2, now); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("second accept: %v, want ErrNoRequest", err)
	}
	// Expired (at its expiry exactly): refused, no session.
	if err := s.AcceptAuthRequest(t.Context(), "r2", grantSession("g3", u.ID), db.AAL2, opT0.Add(10*time.Minute)); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("expired accept: %v, want ErrNoRequest", err)
	}
	if err := s.AcceptAuthRequest(t.Context(), "nope", grantSession("g4", u.ID), db.AAL2, now); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("unknown accept: %v, want ErrNoRequest", err)
	}
	for _, id := range []string{"g2", "g3", "g4"} {
		if _, err := s.GetSession(t.Context(), id); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("session %s of a refused accept: %v, want ErrNoSession", id, err)
		}
	}
}

func authCodes(t *testing.T, s ProviderStore) {
	u := newProviderUser(t, s, "ada@example.com")
	for _, id := range []string{"r1", "r2"} {
		if err := s.CreateAuthRequest(t.Context(), testAuthRequest(id)); err != nil {
			t.Fatal(err)
		}
	}
	exp := opT0.Add(2 * time.Minute)
	// Not accepted: no code.
	if err := s.SaveAuthCode(t.Context(), "r2", "hash2", exp, exp); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("code of a pending request: %v, want ErrNoRequest", err)
	}
	if err := s.AcceptAuthRequest(t.Context(), "r1", grantSession("g1", u.ID), db.AAL1, opT0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(t.Context(), "r1", "hash1", exp, opT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(t.Context(), "r1", "hash1b", exp, exp); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("second code: %v, want ErrNoRequest", err)
	}
	got, err := s.AuthRequestByCode(t.Context(), "hash1")
	if err != nil || got.ID != "r1" || got.CodeUsed || !got.CodeExpiresAt.Equal(db.Millis(exp)) ||
		!got.ExpiresAt.Equal(db.Millis(opT0.Add(time.Hour))) {
		t.Errorf("by code: %+v, %v; want the code's expiry and the request kept until keepUntil", got, err)
	}
	if _, err := s.AuthRequestByCode(t.Context(), "hash1b"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("unknown code: %v, want ErrNoRequest", err)
	}
	if err := s.SpendAuthCode(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SpendAuthCode(t.Context(), "r1"); !errors.Is(err, provider.ErrCodeSpent) {
		t.Errorf("second spend: %v, want ErrCodeSpent", err)
	}
	// A spent code is still found, marked used: its second use is seen.
	if got, err := s.AuthRequestByCode(t.Context(), "hash1"); err != nil || !got.CodeUsed {
		t.Errorf("spent code: %+v, %v", got, err)
	}
	if err := s.SpendAuthCode(t.Context(), "nope"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("spend of an unknown request: %v, want ErrNoRequest", err)
	}
	if err := s.DeleteAuthRequest(t.Context(), "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAuthRequest(t.Context(), "r1"); err != nil {
		t.Errorf("delete of a deleted request: %v", err)
	}
	if _, err := s.AuthRequestByCode(t.Context(), "hash1"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("deleted request's code: %v, want ErrNoRequest", err)
	}
}

func concurrentSpends(t *testing.T, s ProviderStore) {
	u := newProviderUser(t, s, "ada@example.com")
	if err := s.CreateAuthRequest(t.Context(), testAuthRequest("r1")); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptAuthRequest(t.Context(), "r1", grantSession("g1", u.ID), db.AAL1, opT0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(t.Context(), "r1", "hash1", opT0.Add(time.Minute), opT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    int
		others []error
	)
	for range n {
		wg.Go(func() {
			err := s.SpendAuthCode(t.Context(), "r1")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, provider.ErrCodeSpent):
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || len(others) > 0 {
		t.Errorf("%d spends won, other errors %v; want exactly one and ErrCodeSpent for the rest", won, others)
	}
}

func pruneAuthRequests(t *testing.T, s ProviderStore) {
	old, live := testAuthRequest("old"), testAuthRequest("live")
	live.ExpiresAt = opT0.Add(time.Hour)
	for _, r := range []provider.AuthRequest{old, live} {
		if err := s.CreateAuthRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAuthRequests(t.Context(), old.ExpiresAt)
	if err != nil || n != 1 {
		t.Errorf("pruned %d, %v; want 1", n, err)
	}
	if _, err := s.GetAuthRequest(t.Context(), "old"); !errors.Is(err, provider.ErrNoRequest) {
		t.Errorf("expired request: %v, want ErrNoRequest", err)
	}
	if _, err := s.GetAuthRequest(t.Context(), "live"); err != nil {
		t.Errorf("live request: %v", err)
	}
}

func consents(t *testing.T, s ProviderStore) {
	ada, bob := newProviderUser(t, s, "ada@example.com"), newProviderUser(t, s, "bob@example.com")
	if got, err := s.Consent(t.Context(), ada.ID, "kc_a"); err != nil || got != nil {
		t.Errorf("no consent: %v, %v", got, err)
	}
	if err := s.SaveConsent(t.Context(), ada.ID, "kc_a", []string{"openid", "email"}, opT0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConsent(t.Context(), ada.ID, "kc_a", []string{"openid", "profile"}, opT0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Consent(t.Context(), ada.ID, "kc_a"); err != nil || !cmp.Equal(got, []string{"openid", "profile"}) {
		t.Errorf("replaced consent: %v, %v", got, err)
	}
	for _, c := range []struct {
		user   int64
		client string
	}{{ada.ID, "kc_b"}, {bob.ID, "kc_a"}} {
		if got, err := s.Consent(t.Context(), c.user, c.client); err != nil || got != nil {
			t.Errorf("consent of user %d to %s: %v, %v; want none", c.user, c.client, got, err)
		}
	}
	if err := s.DeleteUser(t.Context(), ada.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Consent(t.Context(), ada.ID, "kc_a"); err != nil || got != nil {
		t.Errorf("consent of a deleted user: %v, %v", got, err)
	}
}

func grantSessions(t *testing.T, s ProviderStore) {
	u := newProviderUser(t, s, "ada@example.com")
	if err := s.CreateAuthRequest(t.Context(), testAuthRequest("r1")); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptAuthRequest(t.Context(), "r1", grantSession("g1", u.ID), db.AAL1, opT0); err != nil {
		t.Fatal(err)
	}
	own := grantSession("own", u.ID)
	own.ClientID = ""
	if err := s.CreateSession(t.Context(), own); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(t.Context(), "g1"); err != nil || got.ClientID != "kc_test" {
		t.Errorf("grant session: client %q, %v", got.ClientID, err)
	}
	if got, err := s.GetSession(t.Context(), "own"); err != nil || got.ClientID != "" {
		t.Errorf("keel's own session: client %q, %v", got.ClientID, err)
	}
	list, err := s.ListSessions(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]string{}
	for _, l := range list {
		clients[l.ID] = l.ClientID
	}
	if !cmp.Equal(clients, map[string]string{"g1": "kc_test", "own": ""}) {
		t.Errorf("listed sessions' clients: %v", clients)
	}
}

func withdrawConsent(t *testing.T, s ProviderStore) {
	ada, bob := newProviderUser(t, s, "ada@example.com"), newProviderUser(t, s, "bob@example.com")
	for i, g := range []struct {
		id, client string
		user       int64
	}{{"a1", "kc_a", ada.ID}, {"a2", "kc_a", ada.ID}, {"ab", "kc_b", ada.ID}, {"b1", "kc_a", bob.ID}} {
		r := testAuthRequest("r" + g.id)
		r.ClientID = g.client
		if err := s.CreateAuthRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		sess := grantSession(g.id, g.user)
		sess.ClientID = g.client
		if err := s.AcceptAuthRequest(t.Context(), r.ID, sess, db.AAL1, opT0); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveConsent(t.Context(), g.user, g.client, []string{"openid"}, opT0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	own := grantSession("own", ada.ID)
	own.ClientID = ""
	if err := s.CreateSession(t.Context(), own); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListConsents(t.Context(), ada.ID)
	if err != nil || len(list) != 2 || list[0].ClientID != "kc_a" || list[1].ClientID != "kc_b" ||
		!cmp.Equal(list[0].Scopes, []string{"openid"}) || list[0].CreatedAt.Location() != time.UTC {
		t.Errorf("ada's consents: %+v, %v", list, err)
	}
	if err := s.WithdrawConsent(t.Context(), ada.ID, "kc_a"); err != nil {
		t.Fatal(err)
	}
	for id, live := range map[string]bool{"a1": false, "a2": false, "ab": true, "b1": true, "own": true} {
		if _, err := s.GetSession(t.Context(), id); (err == nil) != live {
			t.Errorf("session %s after ada withdrew kc_a: %v, want live %v", id, err, live)
		}
	}
	if got, _ := s.Consent(t.Context(), ada.ID, "kc_a"); got != nil {
		t.Errorf("withdrawn consent: %v", got)
	}
	if err := s.WithdrawConsent(t.Context(), ada.ID, "kc_a"); !errors.Is(err, provider.ErrNoConsent) {
		t.Errorf("second withdrawal: %v, want ErrNoConsent", err)
	}
	if got, _ := s.Consent(t.Context(), bob.ID, "kc_a"); got == nil {
		t.Error("bob's consent to kc_a went with ada's")
	}
}
