package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/provider"
)

// prune-accounts runs on both engines and deletes an expired session and
// an expired authorization request of the OpenID Provider while keeping live
// ones.
func TestPruneAccountsRuns(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			now := time.Now()
			for i, expires := range []time.Time{now.Add(-time.Hour), now.Add(time.Hour)} {
				u, err := d.store.CreateUser(ctx, fmt.Sprintf("u%d@example.com", i), "x", now, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.store.CreateSession(ctx, db.Session{ID: fmt.Sprint("s", i), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
					Generation: 1, RefreshHash: "h", RotatedAt: now, RefreshExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
			}
			op := d.store.(provider.Store)
			for i, expires := range []time.Time{now.Add(-time.Hour), now.Add(time.Hour)} {
				if err := op.CreateAuthRequest(ctx, provider.AuthRequest{ID: fmt.Sprint("r", i), ClientID: "kc_x",
					RedirectURI: "https://app.example/cb", Scopes: []string{"openid"}, ResponseType: "code", MaxAge: -1,
					CreatedAt: now, ExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
			}
			dev := d.store.(provider.DeviceStore)
			for i, expires := range []time.Time{now.Add(-time.Hour), now.Add(time.Hour)} {
				if err := dev.CreateDeviceCode(ctx, provider.DeviceCode{DeviceHash: fmt.Sprint("d", i), UserHash: fmt.Sprint("u", i),
					ClientID: "kc_x", Interval: time.Second, CreatedAt: now, ExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
			}
			_, reg := startEngine(t, d.store, jobs.Config{PruneEvery: 300 * time.Millisecond})
			waitFor(t, 15*time.Second, "prune-accounts did not run", func() bool { return runs(t, reg, "prune-accounts") >= 1 })
			if _, err := d.store.GetSession(ctx, "s0"); !errors.Is(err, db.ErrNoSession) {
				t.Errorf("the expired session: %v, want pruned", err)
			}
			if _, err := d.store.GetSession(ctx, "s1"); err != nil {
				t.Errorf("the live session: %v, want kept", err)
			}
			if _, err := op.GetAuthRequest(ctx, "r0"); !errors.Is(err, provider.ErrNoRequest) {
				t.Errorf("the expired authorization request: %v, want pruned", err)
			}
			if _, err := op.GetAuthRequest(ctx, "r1"); err != nil {
				t.Errorf("the live authorization request: %v, want kept", err)
			}
			if _, err := dev.DeviceCodeByUserCode(ctx, "u0"); !errors.Is(err, provider.ErrNoDeviceCode) {
				t.Errorf("the expired device code: %v, want pruned", err)
			}
			if _, err := dev.DeviceCodeByUserCode(ctx, "u1"); err != nil {
				t.Errorf("the live device code: %v, want kept", err)
			}
		})
	}
}
