package storetest

// The suite's bans part: a ban ends every session of the account (its grants
// to clients too, announced) and voids its sign-in codes in one transaction;
// while it lasts, every way to a new session refuses the account under its
// lock (ErrBanned), storing nothing; a ban whose end has passed refuses
// nothing; UnbanUser lifts it.

import (
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/provider"
)

// banUser bans userID from at until until (zero: until lifted), or fails
// the test; it returns the ids of the sessions the ban ended.
func banUser(t *testing.T, s db.Store, userID int64, at, until time.Time) []string {
	t.Helper()
	var ended []string
	err := s.BanUser(t.Context(), userID, db.Ban{At: at, Until: until, Reason: "spam"}, func(_ *sql.Tx, ids []string) error {
		ended = ids
		return nil
	})
	if err != nil {
		t.Fatalf("BanUser(%d): %v", userID, err)
	}
	slices.Sort(ended)
	return ended
}

// banEnds: BanUser ends every session of the account, its grants to
// clients among them, announces it, hands after their ids, voids its
// sign-in codes, and leaves other accounts alone; after's error rolls it
// all back; a missing user is ErrNoUser; GetBan reads the ban back.
func banEnds(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)
	ada := verifiedUser(t, s, "ada@example.com")
	bob := mustCreate(t, s, "bob@example.com")
	addSession(t, s, ada.ID, "a1", now)
	grant := db.Session{ID: "a-grant", UserID: ada.ID, CreatedAt: now, LastUsedAt: now, UserAgent: "app",
		Generation: 1, RefreshHash: "h-grant", RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour), ClientID: "kc_app"}
	if err := s.CreateSession(ctx, grant); err != nil {
		t.Fatal(err)
	}
	addSession(t, s, bob.ID, "b1", now)
	createCode(t, s, ada.ID, code("adas-code"))

	boom := errors.New("boom")
	if err := s.BanUser(ctx, ada.ID, db.Ban{At: now, Reason: "spam"}, func(*sql.Tx, []string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("BanUser with a failing after: %v, want boom", err)
	}
	if b, err := s.GetBan(ctx, ada.ID); err != nil || b != (db.Ban{}) {
		t.Errorf("after a rolled-back ban: GetBan = %+v, %v; want none", b, err)
	}
	if _, err := s.GetSession(ctx, "a1"); err != nil {
		t.Errorf("a rolled-back ban ended a1: %v", err)
	}
	select {
	case e := <-heard:
		t.Errorf("a rolled-back ban announced %+v", e)
	case <-time.After(50 * time.Millisecond):
	}

	until := now.Add(time.Hour)
	if ended := banUser(t, s, ada.ID, now, until); !slices.Equal(ended, []string{"a-grant", "a1"}) {
		t.Errorf("after got ended sessions %q, want [a-grant a1]", ended)
	}
	for _, id := range []string{"a1", "a-grant"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("session %s after the ban: %v, want ErrNoSession", id, err)
		}
	}
	if _, err := s.GetSession(ctx, "b1"); err != nil {
		t.Errorf("another account's session after the ban: %v", err)
	}
	select {
	case e := <-heard:
		if want := (db.SessionsEnded{UserID: ada.ID}); !reflect.DeepEqual(e, want) {
			t.Errorf("heard %+v, want %+v", e, want)
		}
	case <-time.After(5 * time.Second):
		t.Error("the ban's ending was not announced")
	}
	noCode(t, s, "adas-code")
	want := db.Ban{At: now, Until: until, Reason: "spam"}
	if b, err := s.GetBan(ctx, ada.ID); err != nil || b != want {
		t.Errorf("GetBan = %+v, %v; want %+v", b, err, want)
	}
	if b, err := s.GetBan(ctx, bob.ID); err != nil || b != (db.Ban{}) {
		t.Errorf("GetBan of an account never banned = %+v, %v; want none", b, err)
	}
	if err := s.BanUser(ctx, ada.ID+100, db.Ban{At: now, Reason: "x"}, nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("BanUser of a missing user: %v, want ErrNoUser", err)
	}
	if _, err := s.GetBan(ctx, ada.ID+100); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("GetBan of a missing user: %v, want ErrNoUser", err)
	}
}

// bannedSignIns: while a ban lasts, CreateSession (a password or passkey
// sign-in), SignInWithProvider and RedeemOAuthCode refuse the account with
// ErrBanned and store nothing (a code redeemed is spent all the same); at
// the ban's end, and after UnbanUser, they succeed again.
func bannedSignIns(t *testing.T, s db.Store) {
	ctx := t.Context()
	p := idp("adas", "ada@example.com", true)
	ada, _ := signIn(t, s, p, "first")
	takeCode(t, s, "first", ada.ID)
	until := now.Add(time.Hour)
	banUser(t, s, ada.ID, now, until)

	sess := func(id string, at time.Time) db.Session {
		return db.Session{ID: id, UserID: ada.ID, CreatedAt: at, LastUsedAt: at, UserAgent: "test",
			Generation: 1, RefreshHash: "h-" + id, RotatedAt: at, RefreshExpiresAt: at.Add(time.Hour)}
	}
	for _, tt := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"during the ban", now.Add(time.Minute), db.ErrBanned},
		{"a millisecond before its end", until.Add(-time.Millisecond), db.ErrBanned},
		{"at its end", until, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s0 := sess("session "+tt.name, tt.at)
			if err := s.CreateSession(ctx, s0); !errors.Is(err, tt.want) {
				t.Errorf("CreateSession = %v, want %v", err, tt.want)
			}
			if _, err := s.GetSession(ctx, s0.ID); (err == nil) != (tt.want == nil) {
				t.Errorf("session stored: %v, want stored %v", err, tt.want == nil)
			}
			h := "code " + tt.name
			if _, _, err := s.SignInWithProvider(ctx, p, code(h), tt.at, nil); !errors.Is(err, tt.want) {
				t.Errorf("SignInWithProvider = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				noCode(t, s, h)
			}
			// A code stored before the ban committed (BanUser voids those it
			// finds): its redemption is refused and spends it.
			c := code("racing " + tt.name)
			c.ExpiresAt = tt.at.Add(time.Minute)
			createCode(t, s, ada.ID, c)
			r := newSession()
			r.CreatedAt = tt.at
			if _, err := s.RedeemOAuthCode(ctx, c.Hash, c.CodeChallenge, r, tt.at, nil); !errors.Is(err, tt.want) {
				t.Errorf("RedeemOAuthCode = %v, want %v", err, tt.want)
			}
			if _, err := s.GetSession(ctx, r.ID); (err == nil) != (tt.want == nil) {
				t.Errorf("redeemed session stored: %v, want stored %v", err, tt.want == nil)
			}
			noCode(t, s, c.Hash)
		})
	}

	// Banned until lifted, then lifted.
	banUser(t, s, ada.ID, now, time.Time{})
	far := now.Add(1000 * time.Hour)
	if err := s.CreateSession(ctx, sess("far", far)); !errors.Is(err, db.ErrBanned) {
		t.Errorf("CreateSession under a ban until lifted: %v, want ErrBanned", err)
	}
	lifted, err := s.UnbanUser(ctx, ada.ID, nil)
	if err != nil || !lifted {
		t.Fatalf("UnbanUser = %v, %v; want lifted", lifted, err)
	}
	if err := s.CreateSession(ctx, sess("far", far)); err != nil {
		t.Errorf("CreateSession after UnbanUser: %v", err)
	}
	if b, err := s.GetBan(ctx, ada.ID); err != nil || b != (db.Ban{}) {
		t.Errorf("GetBan after UnbanUser = %+v, %v; want none", b, err)
	}
}

// unbanUser: UnbanUser lifts a ban once (after runs then only; its error
// rolls the lifting back), reports false for an account without one, and
// ErrNoUser for a missing account.
func unbanUser(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	banUser(t, s, ada.ID, now, time.Time{})
	boom := errors.New("boom")
	if _, err := s.UnbanUser(ctx, ada.ID, func(*sql.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("UnbanUser with a failing after: %v, want boom", err)
	}
	if b, err := s.GetBan(ctx, ada.ID); err != nil || b.At.IsZero() {
		t.Errorf("a rolled-back UnbanUser lifted the ban: %+v, %v", b, err)
	}
	calls := 0
	count := func(*sql.Tx) error { calls++; return nil }
	for i, want := range []bool{true, false} {
		if lifted, err := s.UnbanUser(ctx, ada.ID, count); err != nil || lifted != want {
			t.Errorf("UnbanUser #%d = %v, %v; want %v", i+1, lifted, err, want)
		}
	}
	if calls != 1 {
		t.Errorf("after ran %d times, want once (for the ban lifted)", calls)
	}
	if _, err := s.UnbanUser(ctx, ada.ID+100, nil); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("UnbanUser of a missing user: %v, want ErrNoUser", err)
	}
}

// bannedGrant: accepting a login step for a banned user starts no grant
// (ErrBanned), and the request stays pending.
func bannedGrant(t *testing.T, s ProviderStore) {
	u := newProviderUser(t, s, "ada@example.com")
	if err := s.CreateAuthRequest(t.Context(), testAuthRequest("r1")); err != nil {
		t.Fatal(err)
	}
	banUser(t, s, u.ID, opT0, time.Time{})
	if err := s.AcceptAuthRequest(t.Context(), "r1", grantSession("g1", u.ID), db.AAL2, opT0.Add(time.Minute)); !errors.Is(err, db.ErrBanned) {
		t.Errorf("AcceptAuthRequest for a banned user: %v, want ErrBanned", err)
	}
	if _, err := s.GetSession(t.Context(), "g1"); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("the grant's session: %v, want none", err)
	}
	if r, err := s.GetAuthRequest(t.Context(), "r1"); err != nil || r.Done {
		t.Errorf("the request after the refusal: %+v, %v; want pending", r, err)
	}
}

// bannedDevice: approving a device code for a banned user starts no grant
// (ErrBanned), and the code stays pending.
func bannedDevice(t *testing.T, s DeviceStore) {
	u := newProviderUser(t, s, "ada@example.com")
	createDeviceCodes(t, s, "1")
	banUser(t, s, u.ID, opT0, time.Time{})
	if err := s.ApproveDeviceCode(t.Context(), "u-1", grantSession("g1", u.ID), db.AAL2, opT0.Add(time.Minute)); !errors.Is(err, db.ErrBanned) {
		t.Errorf("ApproveDeviceCode for a banned user: %v, want ErrBanned", err)
	}
	if _, err := s.GetSession(t.Context(), "g1"); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("the grant's session: %v, want none", err)
	}
	if c, err := s.DeviceCodeByUserCode(t.Context(), "u-1"); err != nil || c.State != provider.DevicePending {
		t.Errorf("the code after the refusal: %+v, %v; want pending", c, err)
	}
}
