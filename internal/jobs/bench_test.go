package jobs_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/jobs"
)

// BenchmarkGetUserBesideEngine is GET /profile's query on SQLite with no
// engine, and beside an idle engine at keel's defaults (count-users every
// 5 s, polling every second), to see whether River's writes slow the read
// path. Compare engine=off and engine=on with benchstat.
func BenchmarkGetUserBesideEngine(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "engine=off"
		if on {
			name = "engine=on"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "keel.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			u, err := store.CreateUser(ctx, "bench@example.com", "x", time.Now(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if on {
				e, err := jobs.New(store, store.Jobs(), jobs.Config{CountUsersEvery: 5 * time.Second, Log: quiet})
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer e.Stop(ctx)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := store.GetUser(ctx, u.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
