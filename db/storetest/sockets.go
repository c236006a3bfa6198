package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// socketPlaces: a session holds at most max socket places, racers on every
// replica included; an expired lease does not count, a renewed one does,
// and giving one back frees it. The places of one session leave another's
// alone.
func socketPlaces(t *testing.T, s db.Store) {
	ctx := t.Context()
	const max = 10
	ada := mustCreate(t, s, "ada@example.com")
	addSession(t, s, ada.ID, "sock", when)
	addSession(t, s, ada.ID, "other", when)
	lease := when.Add(time.Minute)
	take := func(session, id string, now time.Time) bool {
		t.Helper()
		ok, err := s.TakeSocketPlace(ctx, session, id, "replica", max, now, now.Add(time.Minute))
		if err != nil {
			t.Fatalf("TakeSocketPlace(%s): %v", id, err)
		}
		return ok
	}

	var won atomic.Int32
	errs := race(t, func(ctx context.Context, i int) error {
		ok, err := s.TakeSocketPlace(ctx, "sock", fmt.Sprint("racer-", i), fmt.Sprint("replica-", i%3), max, when, lease)
		if ok {
			won.Add(1)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := won.Load(); n != max {
		t.Fatalf("%d racers took a place, want %d", n, max)
	}
	if take("sock", "one-more", when) {
		t.Fatal("a place past the cap was taken")
	}
	if !take("other", "other-1", when) {
		t.Fatal("another session's place was refused")
	}

	// Giving one back frees it (and giving back one not held is nothing).
	var held string
	for i := range racers {
		id := fmt.Sprint("racer-", i)
		if err := s.GiveBackSocketPlace(ctx, id); err != nil {
			t.Fatal(err)
		}
		if take("sock", "after-give-back", when) {
			held = id
			break
		}
	}
	if held == "" {
		t.Fatal("no place after one was given back")
	}
	if err := s.GiveBackSocketPlace(ctx, "nope"); err != nil {
		t.Fatal(err)
	}

	// Past the leases, only those renewed count: renew 9 of the 10.
	var renew []string
	for i := range racers {
		if id := fmt.Sprint("racer-", i); id != held {
			renew = append(renew, id)
		}
	}
	later := lease.Add(time.Second)
	if err := s.RenewSocketPlaces(ctx, renew, later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !take("sock", "after-expiry", later) {
		t.Fatal("an expired place (after-give-back, not renewed) still counts")
	}
	if take("sock", "past-renewed", later) {
		t.Fatal("renewed places do not count")
	}

	// An ended session's places go with it.
	if err := s.EndSession(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TakeSocketPlace(ctx, "other", "other-2", "replica", max, when, lease); ok || !errors.Is(err, db.ErrNoSession) {
		t.Errorf("a place for an ended session: %v, %v; want ErrNoSession", ok, err)
	}
}
