package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// announcements: every Store method that ends sessions announces what it
// ended to a watcher once it commits, and one that fails announces nothing;
// LiveSessions names the sessions that still exist.
func announcements(t *testing.T, s db.Store) {
	ctx := t.Context()
	heard := watch(t, s)

	ada := mustCreate(t, s, "ada@example.com")
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		addSession(t, s, ada.ID, id, when)
	}
	live, err := s.LiveSessions(ctx, []string{"a1", "a2", "nope", "a4"})
	if slices.Sort(live); err != nil || !slices.Equal(live, []string{"a1", "a2", "a4"}) {
		t.Errorf("LiveSessions = %v, %v; want [a1 a2 a4]", live, err)
	}

	// Each step's announcement, if it has one, is the next heard: a failed
	// step before it would show as an extra one.
	for _, step := range []struct {
		name string
		do   func() error
		want *db.SessionsEnded
	}{
		{"DeleteSession of an unknown session", func() error { return s.DeleteSession(ctx, ada.ID, "nope") }, nil},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, ada.ID, "a1") }, &db.SessionsEnded{UserID: ada.ID, Session: "a1"}},
		{"EndSession of a session gone", func() error { return s.EndSession(ctx, "a1") }, nil},
		{"EndSession", func() error { return s.EndSession(ctx, "a2") }, &db.SessionsEnded{UserID: ada.ID, Session: "a2"}},
		{"ChangePassword keeping an ended session", func() error { return s.ChangePassword(ctx, ada.ID, "h", "a1", nil) }, nil},
		{"ChangePassword", func() error { return s.ChangePassword(ctx, ada.ID, "h", "a3", nil) }, &db.SessionsEnded{UserID: ada.ID, Keep: "a3"}},
		{"DeleteSessions", func() error { return s.DeleteSessions(ctx, ada.ID, "") }, &db.SessionsEnded{UserID: ada.ID}},
		{"ResetPassword with an unknown token", func() error { _, err := s.ResetPassword(ctx, "nope", "h", when, nil); return err }, nil},
		{"ResetPassword", func() error {
			token(t, s, "reset", ada.ID, db.PurposeResetPassword, when.Add(time.Hour))
			_, err := s.ResetPassword(ctx, "reset", "h", when, nil)
			return err
		}, &db.SessionsEnded{UserID: ada.ID}},
		{"DeleteUser of an unknown user", func() error { return s.DeleteUser(ctx, ada.ID+100) }, nil},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, ada.ID) }, &db.SessionsEnded{UserID: ada.ID}},
	} {
		err := step.do()
		if step.want == nil {
			continue // failed, or ended nothing (EndSession): nothing to announce
		}
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		select {
		case e := <-heard:
			if !reflect.DeepEqual(e, *step.want) {
				t.Errorf("%s: heard %+v, want %+v", step.name, e, *step.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing heard", step.name)
		}
	}
	select {
	case e := <-heard:
		t.Errorf("heard %+v after the last step", e)
	case <-time.After(100 * time.Millisecond):
	}
	if e := (db.SessionsEnded{UserID: 1, Keep: "k"}); !e.Ends(1, "x") || e.Ends(1, "k") || e.Ends(2, "x") {
		t.Errorf("Ends of %+v is wrong", e)
	}
}

// factorAnnouncements: ConfirmFactor announces the account's new factor,
// naming the session it raised, once it commits; a failed one (a stale
// session) announces nothing; and a watch without FactorAdded hears none.
func factorAnnouncements(t *testing.T, s db.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan db.FactorAdded, 4)
	listening := make(chan struct{}, 2)
	watched := make(chan error, 2)
	resync := func() {
		select {
		case listening <- struct{}{}:
		default:
		}
	}
	go func() {
		watched <- s.WatchSessions(ctx, db.SessionWatch{
			Ended: func(db.SessionsEnded) {}, Resync: resync, Lost: func(err error) { t.Logf("watch lost: %v", err) },
			FactorAdded: func(e db.FactorAdded) { heard <- e },
		})
	}()
	go func() { // hears of endings only
		watched <- s.WatchSessions(ctx, db.SessionWatch{Ended: func(db.SessionsEnded) {}, Resync: resync, Lost: func(error) {}})
	}()
	defer func() {
		cancel()
		for range 2 {
			if err := <-watched; !errors.Is(err, context.Canceled) {
				t.Errorf("WatchSessions returned %v, want context.Canceled", err)
			}
		}
	}()
	for range 2 {
		select {
		case <-listening:
		case <-time.After(10 * time.Second):
			t.Fatal("WatchSessions never called Resync")
		}
	}
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := factor(t, s, sess.UserID, "f1")
	stale := upgradeOf(t, s, sess.ID)
	stale.Generation++
	if err := s.ConfirmFactor(ctx, f.ID, 100, hashes("rc"), stale, nil); !errors.Is(err, db.ErrStale) {
		t.Fatalf("ConfirmFactor of a stale session: %v, want db.ErrStale", err)
	}
	if err := s.ConfirmFactor(ctx, f.ID, 101, hashes("rc"), upgradeOf(t, s, sess.ID), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-heard:
		if want := (db.FactorAdded{UserID: sess.UserID, Keep: sess.ID}); e != want {
			t.Errorf("heard %+v, want %+v", e, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ConfirmFactor announced nothing")
	}
	select {
	case e := <-heard:
		t.Errorf("heard %+v after the one confirmation", e)
	case <-time.After(100 * time.Millisecond):
	}
}
