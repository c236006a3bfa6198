package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/jobs"
)

// prune-clients runs on both engines and deletes a dynamically registered
// client unused for DCRIdle, ending the session it was granted; a dynamic
// client used within DCRIdle, and an operator's client however idle, stay
// with their sessions.
func TestPruneClients(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			registry, ok := d.store.(clients.Store)
			if !ok {
				t.Fatalf("%T keeps no clients", d.store)
			}
			now := time.Now()
			old := now.Add(-40 * 24 * time.Hour)
			for _, c := range []struct {
				id      string
				dynamic bool
				used    time.Time
			}{
				{"kc_idle", true, time.Time{}},                            // registered 40 days ago, never used: goes
				{"kc_used_long_ago", true, now.Add(-31 * 24 * time.Hour)}, // goes
				{"kc_used", true, now.Add(-29 * 24 * time.Hour)},          // stays
				{"kc_operators", false, time.Time{}},                      // the operator's: stays
			} {
				reg := clients.Registration{Name: c.id, Public: true, Native: true,
					RedirectURIs: []string{"http://127.0.0.1/cb"}, Dynamic: c.dynamic}
				client, _, err := clients.Register(reg, old)
				if err != nil {
					t.Fatal(err)
				}
				client.ID = c.id
				if err := registry.CreateClient(ctx, client); err != nil {
					t.Fatal(err)
				}
				if !c.used.IsZero() {
					if err := registry.TouchClient(ctx, c.id, c.used); err != nil {
						t.Fatal(err)
					}
				}
			}
			u, err := d.store.CreateUser(ctx, "ada@example.com", "x", old, nil)
			if err != nil {
				t.Fatal(err)
			}
			for id, client := range map[string]string{"s-idle": "kc_idle", "s-used": "kc_used", "s-operators": "kc_operators", "s-own": ""} {
				if err := d.store.CreateSession(ctx, db.Session{ID: id, UserID: u.ID, CreatedAt: now, LastUsedAt: now,
					Generation: 1, RefreshHash: "h-" + id, RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour),
					AAL: db.AAL1, AuthTime: now, ClientID: client}); err != nil {
					t.Fatal(err)
				}
			}

			_, reg := startEngine(t, d.store, jobs.Config{PruneEvery: 300 * time.Millisecond, DCRIdle: 30 * 24 * time.Hour})
			waitFor(t, 15*time.Second, "prune-clients did not run", func() bool { return runs(t, reg, "prune-clients") >= 1 })

			list, err := registry.ListClients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, c := range list {
				left = append(left, c.ID)
			}
			if len(left) != 2 || left[0] != "kc_used" && left[1] != "kc_used" || left[0] != "kc_operators" && left[1] != "kc_operators" {
				t.Errorf("clients left %v, want kc_used and kc_operators", left)
			}
			if _, err := d.store.GetSession(ctx, "s-idle"); !errors.Is(err, db.ErrNoSession) {
				t.Errorf("the deleted client's session: %v, want it ended", err)
			}
			for _, id := range []string{"s-used", "s-operators", "s-own"} {
				if _, err := d.store.GetSession(ctx, id); err != nil {
					t.Errorf("session %s: %v, want it kept", id, err)
				}
			}
		})
	}
}
