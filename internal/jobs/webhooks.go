package jobs

// Webhooks (internal/webhooks) on the job engine. An event that has a
// webhook type queues a fan-out in its own transaction (EventHook, which the
// store calls from RecordEventTx): nothing for a change rolled back, nothing
// lost for one committed. The fan-out stores one delivery per subscribed
// endpoint (unique by endpoint and event, so replicas never double one) and
// queues its job in the same transaction; each delivery job makes attempts
// until a 2xx, backing off from WEBHOOKS_RETRY_MIN for WEBHOOKS_RETRY_FOR.
// Both kinds run in the queue "webhooks", with its own workers, so a slow
// receiver never holds up the account emails in the default queue.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mail"
	"github.com/keelhq/keel/internal/webhooks"
)

// QueueWebhooks is the queue of the webhook jobs.
const QueueWebhooks = "webhooks"

// WebhooksConfig is what the webhook jobs need; no webhooks without Store.
type WebhooksConfig struct {
	Store  webhooks.Store
	Sealer webhooks.Sealer
	// Timeout bounds one attempt (WEBHOOKS_TIMEOUT); the job's own timeout
	// is a little longer, so an attempt that times out is recorded.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback and private addresses
	// (WEBHOOKS_ALLOW_PRIVATE).
	AllowPrivate bool
	// RetryMin is the wait before the first retry (WEBHOOKS_RETRY_MIN),
	// doubling after; RetryFor how long a delivery is retried
	// (WEBHOOKS_RETRY_FOR); DisableAfter how long an endpoint may fail
	// before it is disabled (WEBHOOKS_DISABLE_AFTER).
	RetryMin, RetryFor, DisableAfter time.Duration
	// Workers is how many deliveries this replica makes at once
	// (WEBHOOKS_WORKERS).
	Workers int
	// Client, when set, replaces the client NewClient makes (tests).
	Client *http.Client
}

// Defaults of WebhooksConfig.
const (
	DefaultWebhookTimeout      = 10 * time.Second
	DefaultWebhookRetryMin     = 5 * time.Second
	DefaultWebhookRetryFor     = 24 * time.Hour
	DefaultWebhookDisableAfter = 24 * time.Hour
	DefaultWebhookWorkers      = 50
)

// webhookMaxAttempts bounds the attempts of one delivery far above what
// RetryFor allows with hourly attempts at most; RetryFor is what ends it.
const webhookMaxAttempts = 100

// WebhookFanOut makes the deliveries of one recorded event.
type WebhookFanOut struct {
	EventID int64 `json:"event_id"`
}

// Kind implements river.JobArgs.
func (WebhookFanOut) Kind() string { return "webhook_fanout" }

// InsertOpts puts it in the webhooks queue, once per event.
func (WebhookFanOut) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// WebhookDeliver delivers one stored delivery; Resend counts the admin's
// resends, each a job of its own.
type WebhookDeliver struct {
	DeliveryID int64  `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	EventID    int64  `json:"event_id"`
	Resend     int64  `json:"resend"`
}

// Kind implements river.JobArgs.
func (WebhookDeliver) Kind() string { return "webhook_deliver" }

// InsertOpts puts it in the webhooks queue, once per endpoint, event and
// resend.
func (WebhookDeliver) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: webhookMaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// WebhookDisabled tells the admins that an endpoint was disabled for
// failing.
type WebhookDisabled struct {
	EndpointID string    `json:"endpoint_id"`
	At         time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (WebhookDisabled) Kind() string { return "webhook_disabled" }

// webhookMetrics are the deliveries' Prometheus metrics.
type webhookMetrics struct {
	attempts *prometheus.CounterVec
	lag      prometheus.Histogram
}

func newWebhookMetrics(reg prometheus.Registerer) *webhookMetrics {
	m := &webhookMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_webhook_attempts_total",
			Help: "Webhook delivery attempts this replica made, by result (delivered, failed).",
		}, []string{"result"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keel_webhook_lag_seconds",
			Help:    "Seconds from an event to its delivery (a 2xx), retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600},
		}),
	}
	m.attempts.WithLabelValues("delivered")
	m.attempts.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m.attempts, m.lag)
	}
	return m
}

// webhookJobTimeout is a delivery job's timeout: the attempt's and a
// margin to record its outcome.
func webhookJobTimeout(w WebhooksConfig) time.Duration {
	return cmp.Or(w.Timeout, DefaultWebhookTimeout) + 5*time.Second
}

// addWebhooks registers the webhook kinds and returns their queue's config.
func addWebhooks(k *kinds, cfg Config) river.QueueConfig {
	w := cfg.Webhooks
	w.Timeout = cmp.Or(w.Timeout, DefaultWebhookTimeout)
	w.RetryMin = cmp.Or(w.RetryMin, DefaultWebhookRetryMin)
	w.RetryFor = cmp.Or(w.RetryFor, DefaultWebhookRetryFor)
	w.DisableAfter = cmp.Or(w.DisableAfter, DefaultWebhookDisableAfter)
	w.Workers = cmp.Or(w.Workers, DefaultWebhookWorkers)
	if w.Client == nil {
		w.Client = webhooks.NewClient(w.Timeout, w.AllowPrivate)
	}
	addWorker(k, &webhookFanOutWorker{store: w.Store})
	addWorker(k, &webhookDeliverWorker{cfg: w, now: cfg.Now, log: cfg.Log, metrics: newWebhookMetrics(cfg.Registry)})
	addWorker(k, &webhookDisabledWorker{store: w.Store, mailer: cfg.Mailer})
	return river.QueueConfig{MaxWorkers: w.Workers}
}

type webhookFanOutWorker struct {
	river.WorkerDefaults[WebhookFanOut]
	store webhooks.Store
}

// Work stores the event's deliveries to the endpoints subscribed to its
// type now, and queues their jobs in the same transaction. Run again (a
// retry, another replica's copy) it adds only what is missing.
func (w *webhookFanOutWorker) Work(ctx context.Context, job *river.Job[WebhookFanOut]) error {
	e, err := w.store.WebhookEvent(ctx, job.Args.EventID)
	if errors.Is(err, webhooks.ErrNotFound) {
		return nil // pruned (AUDIT_RETENTION) before it was fanned out
	}
	if err != nil {
		return err
	}
	typ, body, err := webhooks.Payload(e)
	if err != nil {
		return river.JobCancel(err)
	}
	endpoints, err := w.store.WebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	var ds []webhooks.Delivery
	for _, ep := range endpoints {
		if ep.Enabled() && ep.Subscribed(typ) {
			ds = append(ds, webhooks.Delivery{EndpointID: ep.ID, EventID: e.ID, Type: typ, Body: body, EventAt: e.CreatedAt})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	client := river.ClientFromContext[*sql.Tx](ctx)
	return w.store.CreateWebhookDeliveries(ctx, ds, func(tx *sql.Tx, created []webhooks.Delivery) error {
		if len(created) == 0 {
			return nil
		}
		params := make([]river.InsertManyParams, len(created))
		for i, d := range created {
			params[i] = river.InsertManyParams{Args: WebhookDeliver{DeliveryID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID}}
		}
		_, err := client.InsertManyTx(ctx, tx, params)
		return err
	})
}

type webhookDeliverWorker struct {
	river.WorkerDefaults[WebhookDeliver]
	cfg     WebhooksConfig
	now     func() time.Time
	log     *slog.Logger
	metrics *webhookMetrics
}

// Timeout is the attempt's timeout and a margin to record its outcome.
func (w *webhookDeliverWorker) Timeout(*river.Job[WebhookDeliver]) time.Duration {
	return webhookJobTimeout(w.cfg)
}

// NextRetry backs off from RetryMin, doubling (webhooks.Backoff).
func (w *webhookDeliverWorker) NextRetry(job *river.Job[WebhookDeliver]) time.Time {
	return time.Now().Add(webhooks.Backoff(w.cfg.RetryMin, job.Attempt))
}

// Work makes one attempt. A failure is returned (River retries it at
// NextRetry) until RetryFor after the job was queued, when the delivery
// is marked failed and the job cancelled.
func (w *webhookDeliverWorker) Work(ctx context.Context, job *river.Job[WebhookDeliver]) error {
	store := w.cfg.Store
	d, err := store.WebhookDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, webhooks.ErrNotFound) {
		return nil // its endpoint was deleted
	}
	if err != nil {
		return err
	}
	if d.State != webhooks.StatePending {
		return nil // delivered (or given up) already
	}
	ep, err := store.WebhookEndpoint(ctx, d.EndpointID)
	if errors.Is(err, webhooks.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !ep.Enabled() {
		return store.FailWebhookDelivery(ctx, d.ID, "the endpoint is disabled")
	}
	now := w.now()
	keys, err := webhooks.SigningKeys(w.cfg.Sealer, ep, now)
	if err != nil {
		return river.JobCancel(err) // a key change that lost the secret: no retry can sign
	}
	attemptCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	status, sendErr := webhooks.Send(attemptCtx, w.cfg.Client, ep.URL, keys, webhooks.MessageID(d.EventID), now, d.Body)
	cancel()
	a := webhooks.Attempt{DeliveryID: d.ID, EndpointID: ep.ID, At: w.now(), Status: int64(status)}
	if sendErr == nil {
		w.metrics.attempts.WithLabelValues("delivered").Inc()
		w.metrics.lag.Observe(a.At.Sub(d.EventAt).Seconds())
		_, err := store.WebhookAttempted(ctx, a)
		return err
	}
	w.metrics.attempts.WithLabelValues("failed").Inc()
	a.Error = sendErr.Error()
	next := time.Now().Add(webhooks.Backoff(w.cfg.RetryMin, job.Attempt))
	a.Final = next.Sub(job.CreatedAt) > w.cfg.RetryFor || job.Attempt >= job.MaxAttempts
	a.DisableBefore = a.At.Add(-w.cfg.DisableAfter)
	disabled, err := store.WebhookAttempted(ctx, a)
	if err != nil {
		return err
	}
	if disabled {
		if err := store.FailWebhookDelivery(ctx, d.ID, a.Error+" (the endpoint is now disabled)"); err != nil {
			return err
		}
		w.log.Warn("webhook endpoint disabled: failing too long", "endpoint", ep.ID, "url", ep.URL,
			"failing_since", ep.FailingSince, "disable_after", w.cfg.DisableAfter.String(), "last_error", a.Error)
		client := river.ClientFromContext[*sql.Tx](ctx)
		if _, err := client.Insert(ctx, WebhookDisabled{EndpointID: ep.ID, At: a.At}, nil); err != nil {
			w.log.Error("webhook endpoint disabled: the admins' mail was not queued", "endpoint", ep.ID, "error", err)
		}
	}
	if a.Final || disabled {
		return river.JobCancel(sendErr)
	}
	return sendErr
}

type webhookDisabledWorker struct {
	river.WorkerDefaults[WebhookDisabled]
	store  webhooks.Store
	mailer mail.Sender
}

// Work mails each admin that the endpoint was disabled.
func (w *webhookDisabledWorker) Work(ctx context.Context, job *river.Job[WebhookDisabled]) error {
	ep, err := w.store.WebhookEndpoint(ctx, job.Args.EndpointID)
	if errors.Is(err, webhooks.ErrNotFound) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	admins, err := w.store.AdminEmails(ctx)
	if err != nil || w.mailer == nil {
		return err
	}
	text := fmt.Sprintf("On %s, keel disabled the webhook endpoint %s (%s): its deliveries had failed since %s.\n\n"+
		"Its last failed deliveries are at GET /admin/webhooks/%s/deliveries?state=failed. Once the receiver is fixed, "+
		"enable it again (PATCH /admin/webhooks/%s {\"enabled\": true}) and resend what it missed "+
		"(POST /admin/webhooks/%s/deliveries/{delivery_id}/resend).\n",
		job.Args.At.UTC().Format("2 January 2006 at 15:04:05 UTC"), ep.ID, ep.URL,
		ep.FailingSince.UTC().Format("2 January 2006 at 15:04:05 UTC"), ep.ID, ep.ID, ep.ID)
	var errs []error
	for _, to := range admins {
		errs = append(errs, w.mailer.Send(ctx, mail.Message{To: to, Subject: "A webhook endpoint was disabled", Text: text}))
	}
	return errors.Join(errs...)
}

// EventHook queues the fan-out of e, in tx (the transaction that records
// it; nil for an event recorded on its own), if it has a webhook type and
// an endpoint is enabled. The store calls it (SetEventHook).
func (e *Engine) EventHook(ctx context.Context, tx *sql.Tx, ev db.Event) error {
	if e.webhooks == nil {
		return nil
	}
	typ, ok := webhooks.TypeOf(ev)
	if !ok {
		return nil
	}
	any, err := e.webhooks.AnyWebhookEndpointTx(ctx, tx, typ)
	if err != nil || !any {
		return err
	}
	if tx == nil {
		_, err = e.client.Insert(ctx, WebhookFanOut{EventID: ev.ID}, nil)
	} else {
		_, err = e.client.InsertTx(ctx, tx, WebhookFanOut{EventID: ev.ID}, nil)
	}
	return err
}

// ResendWebhookTx queues delivery d again (after the store counted the
// resend in tx): the same webhook-id and body, a new timestamp and
// signature.
func (e *Engine) ResendWebhookTx(ctx context.Context, tx *sql.Tx, d webhooks.Delivery) error {
	_, err := e.client.InsertTx(ctx, tx, WebhookDeliver{DeliveryID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, Resend: d.Resends}, nil)
	return err
}
