// The tests are package jobs_test because they run the engine on the real
// adapters, which import jobs to make its Backend; export_test.go lends them
// the few unexported names they need.
package jobs_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/postgres"
	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/mail"
	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/testutil"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	testutil.RemoveTemplates()
	os.Exit(code)
}

// testDB is a real, fresh database: the store the engine runs on and a raw
// connection through which a test breaks things behind keel's back.
type testDB struct {
	store store
	raw   *sql.DB
	url   string // PostgreSQL only: to open more stores (replicas) on it
}

// engines are the databases every behaviour is checked on.
// store is what both adapters are: a db.Store that makes the job engine's
// Backend.
type store interface {
	db.Store
	Jobs() jobs.Backend
}

var engines = []struct {
	name string
	open func(t testing.TB) testDB
}{
	{"sqlite", func(t testing.TB) testDB {
		// A copy of a database migrated once per run: migrating is most
		// of what a fresh one costs under -race.
		path := testutil.MigratedCopy(t, "sqlite", func(path string) error {
			d, err := sqlite.Open(context.Background(), path)
			if err != nil {
				return err
			}
			return d.Close()
		})
		store, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		// The raw connection waits for the engine's writes as keel's own
		// do (busy_timeout), rather than failing with SQLITE_BUSY.
		return testDB{store: store, raw: rawDB(t, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")}
	}},
	{"postgres", func(t testing.TB) testDB {
		url := pgtest.NewDatabase(t)
		return testDB{store: openPostgres(t, url), raw: rawDB(t, "pgx", url), url: url}
	}},
}

func openPostgres(t testing.TB, url string) *postgres.DB {
	t.Helper()
	store, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func rawDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

var quiet = slog.New(slog.DiscardHandler)

// startEngine starts an engine on store whose metrics go to a fresh
// registry, and stops it when the test ends.
func startEngine(t *testing.T, store store, cfg jobs.Config) (*jobs.Engine, *prometheus.Registry) {
	t.Helper()
	e, reg := newEngine(t, store, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e, reg
}

func newEngine(t *testing.T, store store, cfg jobs.Config) (*jobs.Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registry, cfg.Log = reg, quiet
	if cfg.CountUsersEvery == 0 {
		cfg.CountUsersEvery = time.Hour
	}
	e, err := jobs.New(store, store.Jobs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, reg
}

// metric returns the value of the series name{label=value} in reg, and
// whether the series exists.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabel(m, label, value) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func runs(t *testing.T, reg *prometheus.Registry, kind string) float64 {
	t.Helper()
	v, _ := metric(t, reg, "keel_job_runs_total", "job", kind)
	return v
}

// waitFor polls cond until it holds or timeout passes, and returns how long
// it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// A periodic kind is unique per period: a second insert within one (a new
// leader's first, say) is skipped as a duplicate, on both engines.
func TestPeriodicRunIsUniquePerPeriod(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newEngine(t, engine.open(t).store, jobs.Config{})
			opts := jobs.PeriodicOpts(time.Minute)
			if _, err := e.RiverClient().Insert(context.Background(), jobs.CountUsers{}, opts); err != nil {
				t.Fatal(err)
			}
			res, err := e.RiverClient().Insert(context.Background(), jobs.CountUsers{}, opts)
			if err != nil || !res.UniqueSkippedAsDuplicate {
				t.Errorf("a second insert in one period: %+v, %v; want it skipped as a duplicate", res, err)
			}
		})
	}
}

// Three engines on one PostgreSQL database (three replicas) run the
// periodic job about once per interval in total, not once each. When the
// leader dies without resigning (its database pool closed under it, as in a
// crash), another is elected after the leader's TTL and the runs go on; when
// the next leader stops gracefully, the last one carries on.
func TestOncePerClusterAndFailover(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const every = time.Second
	type replica struct {
		store  *postgres.DB
		engine *jobs.Engine
		reg    *prometheus.Registry
	}
	var replicas []*replica
	for range 3 {
		store := openPostgres(t, url)
		e, reg := startEngine(t, store, jobs.Config{CountUsersEvery: every})
		replicas = append(replicas, &replica{store, e, reg})
	}
	total := func(rs []*replica) float64 {
		var n float64
		for _, r := range rs {
			n += runs(t, r.reg, "count-users")
		}
		return n
	}
	waitFor(t, 15*time.Second, "no run on any replica", func() bool { return total(replicas) >= 1 })

	const window = 6 * time.Second
	before := total(replicas)
	time.Sleep(window)
	n := total(replicas) - before
	t.Logf("%v runs in %v at a %v interval on three replicas", n, window, every)
	// About 6; 18 would be one per replica.
	if n < 4 || n > 8 {
		t.Errorf("%v runs in %v at a %v interval, want about %v for the whole cluster", n, window, every, window/every)
	}

	raw := rawDB(t, "pgx", url)
	leader := func(rs []*replica) (*replica, []*replica) {
		var id string
		if err := raw.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&id); err != nil {
			t.Fatalf("the leader: %v", err)
		}
		for i, r := range rs {
			if r.engine.RiverClient().ID() == id {
				return r, append(rs[:i:i], rs[i+1:]...)
			}
		}
		t.Fatalf("leader %q is none of the replicas", id)
		return nil, nil
	}
	// runsOn waits until the survivors have run the job twice more.
	runsOn := func(survivors []*replica, what string) time.Duration {
		before := total(survivors)
		return waitFor(t, 30*time.Second, what, func() bool { return total(survivors) >= before+2 })
	}

	crashed, survivors := leader(replicas)
	crashed.store.Close()
	t.Logf("after a crash of the leader, runs went on within %v", runsOn(survivors, "no runs after the leader crashed").Round(100*time.Millisecond))

	stopped, survivors := leader(survivors)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stopped.engine.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("after the leader stopped, runs went on within %v", runsOn(survivors, "no runs after the leader stopped").Round(100*time.Millisecond))
}

// Stop returns promptly when called again, and on an engine never started.
func TestStopTwice(t *testing.T) {
	t.Parallel()
	d := engines[0].open(t)
	e, _ := newEngine(t, d.store, jobs.Config{})
	if err := e.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop %d: %v", i+1, err)
		}
		cancel()
	}
}

// inbox is a mail.Sender that keeps what it is given.
type inbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (b *inbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *inbox) all() []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// emailConfig is an engine that sends to box, polling often.
func emailConfig(box *inbox) jobs.Config {
	return jobs.Config{CountUsersEvery: 500 * time.Millisecond, Mailer: box, PublicURL: "https://keel.example/",
		VerifyTTL: time.Hour, ResetTTL: time.Hour}
}

var tokenInLink = regexp.MustCompile(`\?token=([A-Za-z0-9_-]+)`)

// linkToken is the token in the link of m.
func linkToken(t *testing.T, m mail.Message) string {
	t.Helper()
	match := tokenInLink.FindStringSubmatch(m.Text)
	if match == nil || !strings.Contains(m.Text, "https://keel.example/") {
		t.Fatalf("no link with a token under PUBLIC_URL in %q", m.Text)
	}
	return match[1]
}
