package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// Notify mails the owner what happened and when, with no token; a lock's
// mail carries an unlock token that unlocks the account's factor once; an
// account deleted since gets nothing.
func TestNotify(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			box := &inbox{}
			e, reg := startEngine(t, d.store, emailConfig(box))
			u, err := d.store.CreateUser(ctx, "ada@example.com", "hash", time.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)

			if err := e.Notify(ctx, 1, db.Event{UserID: u.ID + 1, Type: db.EventPasswordChanged, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "notify did not run", func() bool { return runs(t, reg, "notify") >= 1 })
			if n := len(box.all()); n != 0 {
				t.Fatalf("%d emails for an account that is not there, want none", n)
			}

			if err := e.Notify(ctx, 2, db.Event{UserID: u.ID, Type: db.EventPasskeyAdded, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "no notice", func() bool { return len(box.all()) >= 1 })
			m := box.all()[0]
			if m.To != "ada@example.com" || !strings.Contains(m.Subject, "passkey was added") ||
				!strings.Contains(m.Text, "7 December 2026 at 01:02:03 UTC") || !strings.Contains(m.Text, "If it was not") ||
				strings.Contains(m.Text, "token") {
				t.Errorf("notice %+v: want to ada, what and when, what to do, no token", m)
			}

			if err := e.Notify(ctx, 3, db.Event{UserID: u.ID, Type: db.EventMFALocked, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "no lock notice", func() bool { return len(box.all()) >= 2 })
			m = box.all()[1]
			if !strings.Contains(m.Subject, "locked") {
				t.Errorf("lock notice subject %q", m.Subject)
			}
			token := linkToken(t, m)
			if id, err := d.store.UnlockFactor(ctx, db.HashToken(token), time.Now()); err != nil || id != u.ID {
				t.Errorf("the mailed unlock token: %d, %v; want user %d", id, err, u.ID)
			}
			if _, err := d.store.UnlockFactor(ctx, db.HashToken(token), time.Now()); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("the unlock token again: %v, want db.ErrNoToken", err)
			}
		})
	}
}
