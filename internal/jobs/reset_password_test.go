package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// ResetPassword emails a link whose token resets the password when the
// address has an account, and sends nothing (the job still runs) when it
// has none.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			box := &inbox{}
			e, reg := startEngine(t, d.store, emailConfig(box))
			if _, err := d.store.CreateUser(ctx, "ada@example.com", "old", time.Now(), nil); err != nil {
				t.Fatal(err)
			}

			if err := e.ResetPassword(ctx, "nobody@example.com"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "reset-password did not run", func() bool { return runs(t, reg, "reset-password") >= 1 })
			if n := len(box.all()); n != 0 {
				t.Fatalf("%d emails for an address without an account, want none", n)
			}

			if err := e.ResetPassword(ctx, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "no reset email", func() bool { return len(box.all()) >= 1 })
			msgs := box.all()
			if msgs[0].To != "ada@example.com" {
				t.Fatalf("email to %q, want ada@example.com", msgs[0].To)
			}
			if _, err := d.store.ResetPassword(ctx, db.HashToken(linkToken(t, msgs[0])), "new", time.Now(), nil); err != nil {
				t.Fatalf("the emailed token: %v", err)
			}
			if c, _ := d.store.GetCredentials(ctx, "ada@example.com"); c.PasswordHash != "new" {
				t.Errorf("password hash %q after the reset, want new", c.PasswordHash)
			}
		})
	}
}
