package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/keelhq/keel/internal/jobs"
)

// The periodic job runs again and again at its interval, and the worker
// middleware (installed through Config.Middleware) counts every run; both
// series exist at 0 before the first run, and a finished job shows in
// keel_river_jobs.
func TestCountUsersRunsAndIsCounted(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			e, reg := newEngine(t, d.store, jobs.Config{CountUsersEvery: 300 * time.Millisecond})
			// Every kind registered on every engine, at 0 before any run.
			for _, kind := range []string{"count-users", "prune-accounts", "prune-rate-limits", "prune-clients", "prune-events", "prune-webhook-deliveries", "verify-email", "reset-password"} {
				for _, name := range []string{"keel_job_runs_total", "keel_job_failures_total"} {
					if v, ok := metric(t, reg, name, "job", kind); !ok || v != 0 {
						t.Errorf(`before the first run, %s{job=%q} = %v (present %v), want 0`, name, kind, v, ok)
					}
				}
			}

			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer e.Stop(context.Background())
			took := waitFor(t, 15*time.Second, "count-users did not run 3 times", func() bool { return runs(t, reg, "count-users") >= 3 })
			t.Logf("3 runs at a 300 ms interval after %v (leader election included)", took.Round(time.Millisecond))
			if v, _ := metric(t, reg, "keel_job_failures_total", "job", "count-users"); v != 0 {
				t.Errorf(`keel_job_failures_total{job="count-users"} = %v, want 0`, v)
			}
			// River marks a worked job completed in a batch a little after
			// the worker returns (its completer), so the gauge may lag the runs.
			waitFor(t, 15*time.Second, `keel_river_jobs{state="completed"} stayed 0`, func() bool {
				v, _ := metric(t, reg, "keel_river_jobs", "state", string(rivertype.JobStateCompleted))
				return v >= 1
			})
		})
	}
}
