package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// passkeyCap: an account holds at most db.MaxPasskeys passkeys, and racers
// registering the last one at once cannot pass the cap: one wins, the rest
// are ErrTooManyPasskeys. Another account is not affected.
func passkeyCap(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	for i := range db.MaxPasskeys - 1 {
		addPasskey(t, s, ada.ID, fmt.Sprint("p", i), fmt.Sprint("cred-", i))
	}
	sid := registrar(t, s, ada.ID)
	errs := race(t, func(ctx context.Context, i int) error {
		return s.CreatePasskey(ctx, newPasskey(ada.ID, fmt.Sprint("racer", i), fmt.Sprint("racer-cred-", i)), sid, nil)
	})
	exactlyOne(t, "the last passkey registered at once", errs, db.ErrTooManyPasskeys)
	if list, err := s.ListPasskeys(ctx, ada.ID); err != nil || len(list) != db.MaxPasskeys {
		t.Errorf("ListPasskeys: %d passkeys, %v; want %d", len(list), err, db.MaxPasskeys)
	}
	if err := s.CreatePasskey(ctx, newPasskey(ada.ID, "one-more", "one-more"), sid, nil); !errors.Is(err, db.ErrTooManyPasskeys) {
		t.Errorf("a passkey past the cap: %v, want ErrTooManyPasskeys", err)
	}
	addPasskey(t, s, bob.ID, "b1", "bob-cred")
	// Room again once one is removed.
	if err := s.DeletePasskey(ctx, ada.ID, "p0", nil); err != nil {
		t.Fatal(err)
	}
	addPasskey(t, s, ada.ID, "after", "after-cred")
}

// identityCap: an account links at most db.MaxIdentities provider
// accounts; racers redeeming link codes for the last one at once cannot pass
// the cap.
func identityCap(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := verifiedUser(t, s, "ada@example.com") // linking needs a proved address
	for i := range db.MaxIdentities - 1 {
		link(t, s, ada.ID, idp(fmt.Sprint("sub-", i), "ada@example.com", true), now)
	}
	codes := make([]db.OAuthCode, racers)
	for i := range codes {
		p := idp(fmt.Sprint("racer-", i), "ada@example.com", true)
		linking := addSession(t, s, ada.ID, fmt.Sprint("racer-linking-", i), now)
		codes[i] = db.OAuthCode{Hash: fmt.Sprint("racer-code-", i), Provider: p.Provider, CodeChallenge: "challenge",
			Link: &p, LinkSessionID: linking.ID, ExpiresAt: now.Add(time.Minute)}
		createCode(t, s, ada.ID, codes[i])
	}
	errs := race(t, func(ctx context.Context, i int) error {
		_, err := s.RedeemOAuthCode(ctx, codes[i].Hash, codes[i].CodeChallenge, newSession(), now, nil)
		return err
	})
	exactlyOne(t, "the last identity linked at once", errs, db.ErrTooManyIdentities)
	if ids, err := s.ListIdentities(ctx, ada.ID); err != nil || len(ids) != db.MaxIdentities {
		t.Errorf("ListIdentities: %d identities, %v; want %d", len(ids), err, db.MaxIdentities)
	}
	// A sign-in that would link by email (its provider may; both verified) is held to it too.
	grace := verifiedUser(t, s, "grace@example.com")
	for i := range db.MaxIdentities {
		link(t, s, grace.ID, idp(fmt.Sprint("grace-", i), "grace@example.com", true), now)
	}
	users, _ := s.CountUsers(ctx)
	if _, _, err := s.SignInWithProvider(ctx, linking(idp("grace-new", "grace@example.com", true)), code("grace-code"), now, nil); !errors.Is(err, db.ErrTooManyIdentities) {
		t.Errorf("a link by email past the cap: %v, want ErrTooManyIdentities", err)
	}
	if after, _ := s.CountUsers(ctx); after != users {
		t.Errorf("%d users after the refused sign-in, want %d", after, users)
	}
	if ids, _ := s.ListIdentities(ctx, grace.ID); len(ids) != db.MaxIdentities {
		t.Errorf("Grace has %d identities after the refused sign-in, want %d", len(ids), db.MaxIdentities)
	}
}

// sessionCap: past db.MaxSessions, a new session ends the account's least
// recently used ones, announced like every ending; sign-ins at once leave
// exactly the cap.
func sessionCap(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	addSession(t, s, bob.ID, "bobs", when)
	for i := range db.MaxSessions {
		// The first is the least recently used; the second the oldest.
		used := when.Add(time.Duration(i+1) * time.Second)
		if i == 1 {
			used = when.Add(-time.Hour)
		}
		addSession(t, s, ada.ID, fmt.Sprint("s", i), used)
	}
	addSession(t, s, ada.ID, "newest", when.Add(time.Hour))
	select {
	case e := <-heard:
		if want := (db.SessionsEnded{UserID: ada.ID, Session: "s1"}); !reflect.DeepEqual(e, want) {
			t.Errorf("heard %+v, want %+v", e, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ended session was not announced")
	}
	list, err := s.ListSessions(ctx, ada.ID)
	s1 := slices.ContainsFunc(list, func(x db.Session) bool { return x.ID == "s1" })
	if err != nil || len(list) != db.MaxSessions || s1 {
		t.Errorf("ListSessions: %d sessions (s1 among them: %v), %v; want %d without s1", len(list), s1, err, db.MaxSessions)
	}
	if _, err := s.GetSession(ctx, "bobs"); err != nil {
		t.Errorf("another account's session: %v", err)
	}
	errs := race(t, func(ctx context.Context, i int) error {
		at := when.Add(2*time.Hour + time.Duration(i)*time.Second)
		return s.CreateSession(ctx, db.Session{ID: fmt.Sprint("racer-", i), UserID: ada.ID, CreatedAt: at, LastUsedAt: at,
			Generation: 1, RefreshHash: fmt.Sprint("racer-h-", i), RotatedAt: at, RefreshExpiresAt: at.Add(time.Hour)})
	})
	for _, err := range errs {
		if err != nil {
			t.Errorf("CreateSession at once: %v", err)
		}
	}
	if list, err := s.ListSessions(ctx, ada.ID); err != nil || len(list) != db.MaxSessions {
		t.Errorf("after %d sign-ins at once: %d sessions, %v; want %d", racers, len(list), err, db.MaxSessions)
	}
	for range racers {
		select {
		case <-heard:
		case <-time.After(5 * time.Second):
			t.Fatal("an ending of the racers' was not announced")
		}
	}
}

// watch watches s's session endings until the test ends, once the watch
// listens.
func watch(t *testing.T, s db.Store) <-chan db.SessionsEnded {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan db.SessionsEnded, 64)
	listening := make(chan struct{}, 1)
	watched := make(chan error, 1)
	go func() {
		watched <- s.WatchSessions(ctx, db.SessionWatch{
			Ended: func(e db.SessionsEnded) { heard <- e },
			Resync: func() {
				select {
				case listening <- struct{}{}:
				default:
				}
			},
			Lost: func(err error) { t.Logf("watch lost: %v", err) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-watched; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchSessions returned %v, want context.Canceled", err)
		}
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchSessions never called Resync")
	}
	return heard
}
