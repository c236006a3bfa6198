package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// VerifyEmailTx inserts the job in the registering user's transaction: a
// rolled-back registration sends nothing, a committed one sends a link
// whose token verifies the address. VerifyEmail (a resend) for an address
// already verified sends nothing.
func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			box := &inbox{}
			e, reg := startEngine(t, d.store, emailConfig(box))

			boom := errors.New("boom")
			if _, err := d.store.CreateUser(ctx, "rolled-back@example.com", "x", time.Now(), func(tx *sql.Tx, u db.User) error {
				if err := e.VerifyEmailTx(ctx, tx, u.ID); err != nil {
					return err
				}
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("CreateUser: %v, want the rollback", err)
			}
			u, err := d.store.CreateUser(ctx, "ada@example.com", "x", time.Now(), func(tx *sql.Tx, u db.User) error {
				return e.VerifyEmailTx(ctx, tx, u.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "no verification email", func() bool { return len(box.all()) >= 1 })
			msgs := box.all()
			if len(msgs) != 1 || msgs[0].To != "ada@example.com" {
				t.Fatalf("emails %+v, want one to ada@example.com (none for the rolled-back user)", msgs)
			}
			if err := d.store.VerifyEmail(ctx, db.HashToken(linkToken(t, msgs[0])), u.ID, time.Now()); err != nil {
				t.Fatalf("the emailed token: %v", err)
			}

			before := runs(t, reg, "verify-email")
			if err := e.VerifyEmail(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "the resend did not run", func() bool { return runs(t, reg, "verify-email") > before })
			if n := len(box.all()); n != 1 {
				t.Errorf("%d emails after a resend to a verified address, want still 1", n)
			}
		})
	}
}
