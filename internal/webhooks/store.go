package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
)

// Endpoint is a registered receiver of webhooks, as stored.
type Endpoint struct {
	ID     string
	URL    string
	Events []string // the webhook types it is sent, in Types' order
	// Secret is the signing key sealed (Sealer); PreviousSecret the key a
	// rotation replaced, sealed, which also signs until PreviousUntil.
	Secret         []byte
	PreviousSecret []byte
	PreviousUntil  time.Time
	CreatedAt      time.Time
	// DisabledAt is when it was disabled (zero: enabled), DisabledReason
	// why: DisabledByAdmin or DisabledFailing.
	DisabledAt     time.Time
	DisabledReason string
	// FailingSince is when its current run of failed attempts began (zero:
	// its last attempt succeeded).
	FailingSince time.Time
}

// Why an endpoint is disabled.
const (
	DisabledByAdmin = "admin"
	DisabledFailing = "failing"
)

// Enabled reports whether deliveries go to e.
func (e Endpoint) Enabled() bool { return e.DisabledAt.IsZero() }

// Subscribed reports whether e is sent events of type typ.
func (e Endpoint) Subscribed(typ string) bool {
	for _, t := range e.Events {
		if t == typ {
			return true
		}
	}
	return false
}

// The states of a delivery.
const (
	StatePending   = "pending"   // attempts under way
	StateDelivered = "delivered" // a 2xx answered
	StateFailed    = "failed"    // retries exhausted, or the endpoint disabled
)

// Delivery is one event's delivery to one endpoint: at most one per
// endpoint and event.
type Delivery struct {
	ID         int64
	EndpointID string
	EventID    int64
	Type       string
	Body       []byte // the payload, as every attempt sends it
	EventAt    time.Time
	State      string
	Attempts   int64
	Resends    int64
	// LastStatus is the HTTP status of the last attempt (0: none, or no
	// answer), LastError what went wrong with it.
	LastStatus    int64
	LastError     string
	LastAttemptAt time.Time
	DeliveredAt   time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	DeliveryID int64
	EndpointID string
	At         time.Time
	Status     int64  // 0 when no answer
	Error      string // empty when delivered
	// Final: no attempt follows a failed one (retries exhausted).
	Final bool
	// DisableBefore: a failure disables the endpoint if it has been
	// failing since this time or before it (zero: never).
	DisableBefore time.Time
}

// ErrNotFound is an endpoint or delivery that is not there.
var ErrNotFound = errors.New("webhooks: no such endpoint or delivery")

// ErrPending is a resend of a delivery still queued: one more would send
// the event again for each resend (an admin's clicks, or a script's loop).
var ErrPending = errors.New("webhooks: the delivery is queued already")

// ErrDisabled is a resend to a disabled endpoint, which sends nothing.
var ErrDisabled = errors.New("webhooks: the endpoint is disabled")

// Store keeps the endpoints and their deliveries; db/sqlite and
// db/postgres implement it.
type Store interface {
	CreateWebhookEndpoint(ctx context.Context, e Endpoint) error
	// WebhookEndpoint returns the endpoint id, or ErrNotFound.
	WebhookEndpoint(ctx context.Context, id string) (Endpoint, error)
	// WebhookEndpoints returns every endpoint, oldest first.
	WebhookEndpoints(ctx context.Context) ([]Endpoint, error)
	// UpdateWebhookEndpoint reads the endpoint id, has change change it and
	// writes it back (all but ID and CreatedAt), in one transaction; it
	// returns the endpoint as written, ErrNotFound, or change's error.
	UpdateWebhookEndpoint(ctx context.Context, id string, change func(*Endpoint) error) (Endpoint, error)
	// DeleteWebhookEndpoint deletes the endpoint and its deliveries, or
	// returns ErrNotFound.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// AnyWebhookEndpointTx reports, in tx (nil: none), whether an enabled
	// endpoint may take events of the webhook type typ (it may answer true
	// for one that does not, never false for one that does).
	AnyWebhookEndpointTx(ctx context.Context, tx *sql.Tx, typ string) (bool, error)
	// WebhookEvent returns the recorded event id, or ErrNotFound.
	WebhookEvent(ctx context.Context, id int64) (db.Event, error)
	// CreateWebhookDeliveries stores each of ds that its endpoint does not
	// have yet (by event), and calls after with those it stored (with their
	// IDs) in the same transaction.
	CreateWebhookDeliveries(ctx context.Context, ds []Delivery, after func(tx *sql.Tx, created []Delivery) error) error
	// WebhookDelivery returns the delivery id, or ErrNotFound.
	WebhookDelivery(ctx context.Context, id int64) (Delivery, error)
	// WebhookDeliveries returns the endpoint's deliveries in state (all when
	// empty) with an ID below before (0: no bound), newest first, at most
	// limit.
	WebhookDeliveries(ctx context.Context, endpointID, state string, before int64, limit int) ([]Delivery, error)
	// WebhookAttempted records an attempt: the delivery's state, and the
	// endpoint's run of failures (ended by a success, begun by a failure).
	// disabled is true for the one call whose failure disabled the endpoint.
	WebhookAttempted(ctx context.Context, a Attempt) (disabled bool, err error)
	// FailWebhookDelivery marks a pending delivery failed without an
	// attempt (its endpoint is disabled or gone).
	FailWebhookDelivery(ctx context.Context, id int64, why string) error
	// ResendWebhookDelivery sets the endpoint's delivery id pending again,
	// counts the resend, and calls after with it in the same transaction;
	// ErrNotFound when the endpoint has no such delivery, ErrPending when
	// the delivery is pending, ErrDisabled when the endpoint is disabled.
	ResendWebhookDelivery(ctx context.Context, endpointID string, id int64, after func(tx *sql.Tx, d Delivery) error) (Delivery, error)
	// AdminEmails returns the addresses of the admin accounts.
	AdminEmails(ctx context.Context) ([]string, error)
	// PruneWebhookDeliveries deletes the finished (delivered or failed)
	// deliveries of events made before cutoff, at most batch of them, oldest
	// first, and returns how many it deleted. A pending one stays: its
	// retries are under way.
	PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}
