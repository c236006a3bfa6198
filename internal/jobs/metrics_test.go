package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/keelhq/keel/internal/jobs"
)

// A job that fails is counted as a run and as a failure: here the users
// table is gone behind keel's back, so count-users' query fails.
func TestFailingJobIsCounted(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			drop := `DROP TABLE users`
			if engine.name == "postgres" {
				drop += ` CASCADE` // sessions and tokens refer to users
			}
			if _, err := d.raw.Exec(drop); err != nil {
				t.Fatal(err)
			}
			_, reg := startEngine(t, d.store, jobs.Config{CountUsersEvery: 300 * time.Millisecond})
			fails := func() float64 {
				v, _ := metric(t, reg, "keel_job_failures_total", "job", "count-users")
				return v
			}
			waitFor(t, 15*time.Second, "no failure counted", func() bool { return fails() >= 1 })
			// Failures first: the middleware counts a run before its failure,
			// so runs read after are at least the failures read before.
			if f, r := fails(), runs(t, reg, "count-users"); r < f {
				t.Errorf("runs %v < failures %v: a failed run is a run", r, f)
			}
		})
	}
}

// keel_river_jobs has a series for every River state, counting the jobs of
// the whole database: here one inserted but not worked (no Start).
func TestRiverJobsByState(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			e, reg := newEngine(t, d.store, jobs.Config{})
			if _, err := e.RiverClient().Insert(context.Background(), jobs.CountUsers{}, nil); err != nil {
				t.Fatal(err)
			}
			for _, s := range rivertype.JobStates() {
				want := 0.0
				if s == rivertype.JobStateAvailable {
					want = 1
				}
				if v, ok := metric(t, reg, "keel_river_jobs", "state", string(s)); !ok || v != want {
					t.Errorf(`keel_river_jobs{state=%q} = %v (present %v), want %v`, s, v, ok, want)
				}
			}
		})
	}
}
