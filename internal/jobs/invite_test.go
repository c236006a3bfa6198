package jobs_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// An invitation, queued in the transaction that creates the account, mails
// its address a link that sets the first password, good for INVITE_TTL (not
// RESET_TTL), and proves the address when used.
func TestInvite(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			box := &inbox{}
			cfg := emailConfig(box)
			cfg.ResetTTL, cfg.InviteTTL = time.Hour, 72*time.Hour
			e, _ := startEngine(t, d.store, cfg)
			u, err := d.store.CreateUser(ctx, "ada@example.com", "", time.Now(), func(tx *sql.Tx, u db.User) error {
				return e.InviteTx(ctx, tx, u.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "no invitation", func() bool { return len(box.all()) >= 1 })
			m := box.all()[0]
			if m.To != "ada@example.com" || !strings.Contains(m.Text, "/reset-password?token=") || !strings.Contains(m.Text, "72h0m0s") {
				t.Fatalf("invitation %+v", m)
			}
			// Past RESET_TTL, within INVITE_TTL: the link still sets the password.
			if _, err := d.store.ResetPassword(ctx, db.HashToken(linkToken(t, m)), "first", time.Now().Add(2*time.Hour), nil); err != nil {
				t.Fatalf("the invitation's token after 2 h: %v", err)
			}
			if c, _ := d.store.GetCredentials(ctx, "ada@example.com"); c.PasswordHash != "first" {
				t.Errorf("password hash %q after the invitation was used, want first", c.PasswordHash)
			}
			if got, _ := d.store.GetUser(ctx, u.ID); !got.EmailVerified {
				t.Error("the address is not verified after the invitation's link was used")
			}
		})
	}
}
