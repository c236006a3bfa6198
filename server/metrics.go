package server

import (
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keelhq/keel/internal/validate"
)

// metrics are keel's Prometheus metrics, on a registry of the Server's own
// (so several Servers, as in tests, never collide).
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	websocket prometheus.Gauge
	signIns   *prometheus.CounterVec
	// eventsDropped counts failed sign-ins not recorded (server/events.go).
	eventsDropped prometheus.Counter
	series        sync.Map // seriesKey → *requestSeries
}

func newMetrics(hashQueue func() int64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keel_http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		websocket: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keel_websockets_open",
			Help: "WebSocket connections open now.",
		}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_oidc_signins_total",
			Help: "Callbacks of sign-ins with OpenID Connect providers, by provider and result (" +
				"new_user, returning, linked (by email, or from the profile at POST /oauth/token), link_pending (a link flow's " +
				"callback), provider_error, invalid_token, email_required, account_exists, identity_taken, account_banned, bad_state, provider_down).",
		}, []string{"provider", "result"}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keel_events_dropped_total",
			Help: "Failed sign-ins not recorded as events: past the cap of failed sign-ins recorded a second, or refused by the database.",
		}),
	}
	m.registry.MustRegister(
		m.requests, m.latency, m.websocket, m.signIns, m.eventsDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keel_bcrypt_queue_depth",
			Help: "Requests waiting for a bcrypt worker.",
		}, func() float64 { return float64(hashQueue()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// seedRequests creates keel_http_requests_total at 0 for every status the
// spec documents for each operation, so that an alert on, say, 5xx or 429
// sees a series from the start rather than none until the first one.
func (m *metrics) seedRequests(ops validate.Operations) {
	for k, op := range ops {
		for status := range op.Route.Operation.Responses.Map() {
			if _, err := strconv.Atoi(status); err == nil {
				m.requests.WithLabelValues(k.Path, k.Method, status)
			}
		}
	}
}

// observeRequest counts one finished request. Methods outside HTTP's own set
// count as OTHER, so a client cannot grow the label space with made-up ones.
func (m *metrics) observeRequest(route, method string, status int, took time.Duration) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
	default:
		method = "OTHER"
	}
	key := seriesKey{route, method, status}
	v, ok := m.series.Load(key)
	if !ok {
		// Resolved once per route, method and status: the label values'
		// hashing and lookups in the vectors were 7 % of GET /'s CPU.
		v, _ = m.series.LoadOrStore(key, &requestSeries{
			count:   m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(route, method),
		})
	}
	rs := v.(*requestSeries)
	rs.count.Inc()
	rs.latency.Observe(took.Seconds())
}

// seriesKey names one route's series for a method and a status. Routes are
// templates and methods a closed set, so the keys are as few as the series.
type seriesKey struct {
	route, method string
	status        int
}

// requestSeries are one seriesKey's counter and histogram.
type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// signIn counts one provider callback's result. provider is a configured
// name (unknown ones are refused before), so the label space stays small.
func (m *metrics) signIn(provider, result string) { m.signIns.WithLabelValues(provider, result).Inc() }

// Registry is where the rest of keel (the job engine) adds its metrics to
// those /metrics serves.
func (s *Server) Registry() prometheus.Registerer { return s.metrics.registry }

// getMetrics serves the registry in the Prometheus text format. A metric
// that cannot be collected now (keel_river_jobs' count query timing out on a
// busy database) is left out of that scrape and logged, rather than failing
// the whole scrape with a 500 that no client caused.
func (s *Server) getMetrics() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
}
