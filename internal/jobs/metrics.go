package jobs

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// metrics counts the jobs this replica works (a River worker middleware, so
// every kind is counted without a line in its worker) and reports River's
// jobs by state for the whole database.
type metrics struct {
	river.MiddlewareDefaults
	runs, fails *prometheus.CounterVec
}

// newMetrics makes the counters, with a series at 0 for each of kinds from
// the start so that alerts and dashboards see them before the first run.
func newMetrics(backend Backend, reg prometheus.Registerer, kinds []string) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_job_runs_total",
			Help: "Jobs this replica ran, failed or not, by kind.",
		}, []string{"job"}),
		fails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_job_failures_total",
			Help: "Jobs this replica ran that failed (River retries them per their kind), by kind.",
		}, []string{"job"}),
	}
	for _, k := range kinds {
		m.runs.WithLabelValues(k)
		m.fails.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.fails, &stateCollector{driver: backend.driver})
	}
	return m
}

// Work counts one run of any job kind.
func (m *metrics) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	m.runs.WithLabelValues(job.Kind).Inc()
	if err != nil {
		m.fails.WithLabelValues(job.Kind).Inc()
	}
	return err
}

// stateCollector reports River's jobs by state (queue depth is "available"
// plus "scheduled" and "retryable"; failures that gave up are "discarded")
// with one count query per scrape.
type stateCollector struct {
	driver riverdriver.Driver[*sql.Tx]
}

var jobsDesc = prometheus.NewDesc("keel_river_jobs", "River jobs in the database by state (the queue of the whole cluster).", []string{"state"}, nil)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

// countTimeout bounds the count query of a scrape: within Prometheus's
// default scrape timeout (10 s), and long enough for SQLite's one writer
// connection, which River's driver uses, to come free under load.
const countTimeout = 5 * time.Second

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	counts, err := c.driver.GetExecutor().JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	for _, s := range rivertype.JobStates() {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
