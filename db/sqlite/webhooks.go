package sqlite

// Webhook endpoints and deliveries (webhooks.Store) over the generated
// queries: written once, here, and twinned to db/postgres/webhooks_gen.go by
// db/twin. The database holds the rule that matters across replicas: one
// delivery per endpoint and event (a unique key), and one disabling per run
// of failures (a conditional update).

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/webhooks"
)

var _ webhooks.Store = (*DB)(nil)

// CreateWebhookEndpoint implements webhooks.Store.
func (d *DB) CreateWebhookEndpoint(ctx context.Context, e webhooks.Endpoint) error {
	return d.write.CreateWebhookEndpoint(ctx, gen.CreateWebhookEndpointParams{
		ID: e.ID, Url: e.URL, Events: jsonList(e.Events), Secret: e.Secret, CreatedAt: db.Millis(e.CreatedAt),
	})
}

// WebhookEndpoint implements webhooks.Store.
func (d *DB) WebhookEndpoint(ctx context.Context, id string) (webhooks.Endpoint, error) {
	row, err := d.read.GetWebhookEndpoint(ctx, id)
	if err != nil {
		return webhooks.Endpoint{}, translate(err, webhooks.ErrNotFound)
	}
	return toEndpoint(row)
}

// WebhookEndpoints implements webhooks.Store.
func (d *DB) WebhookEndpoints(ctx context.Context) ([]webhooks.Endpoint, error) {
	rows, err := d.read.ListWebhookEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Endpoint, 0, len(rows))
	for _, r := range rows {
		e, err := toEndpoint(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// UpdateWebhookEndpoint implements webhooks.Store.
func (d *DB) UpdateWebhookEndpoint(ctx context.Context, id string, change func(*webhooks.Endpoint) error) (webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		row, err := q.GetWebhookEndpoint(ctx, id)
		if err != nil {
			return translate(err, webhooks.ErrNotFound)
		}
		if e, err = toEndpoint(row); err != nil {
			return err
		}
		if err := change(&e); err != nil {
			return err
		}
		e.ID, e.CreatedAt = row.ID, row.CreatedAt
		return q.UpdateWebhookEndpoint(ctx, gen.UpdateWebhookEndpointParams{
			ID: id, Url: e.URL, Events: jsonList(e.Events), Secret: e.Secret,
			PreviousSecret: e.PreviousSecret, PreviousUntil: nullTime(e.PreviousUntil),
			DisabledAt: nullTime(e.DisabledAt), DisabledReason: e.DisabledReason,
			FailingSince: nullTime(e.FailingSince),
		})
	})
	return e, err
}

// DeleteWebhookEndpoint implements webhooks.Store.
func (d *DB) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	n, err := d.write.DeleteWebhookEndpoint(ctx, id)
	if err == nil && n == 0 {
		err = webhooks.ErrNotFound
	}
	return err
}

// AnyWebhookEndpointTx implements webhooks.Store.
func (d *DB) AnyWebhookEndpointTx(ctx context.Context, tx *sql.Tx, typ string) (bool, error) {
	q := d.write
	if tx != nil {
		q = q.WithTx(tx)
	}
	n, err := q.CountActiveWebhookEndpoints(ctx, typ)
	return n > 0, err
}

// WebhookEvent implements webhooks.Store.
func (d *DB) WebhookEvent(ctx context.Context, id int64) (db.Event, error) {
	row, err := d.read.GetWebhookEvent(ctx, id)
	if err != nil {
		return db.Event{}, translate(err, webhooks.ErrNotFound)
	}
	return db.Event{
		ID: row.ID, Type: row.Type, CreatedAt: row.CreatedAt.UTC(), UserID: row.UserID.Int64,
		Actor: row.Actor, IP: row.Ip, UserAgent: row.UserAgent, Data: json.RawMessage(row.Data),
	}, nil
}

// CreateWebhookDeliveries implements webhooks.Store.
func (d *DB) CreateWebhookDeliveries(ctx context.Context, ds []webhooks.Delivery, after func(*sql.Tx, []webhooks.Delivery) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		var created []webhooks.Delivery
		for _, dl := range ds {
			id, err := q.InsertWebhookDelivery(ctx, gen.InsertWebhookDeliveryParams{
				EndpointID: dl.EndpointID, EventID: dl.EventID, Type: dl.Type, Body: string(dl.Body),
				EventAt: db.Millis(dl.EventAt),
			})
			if errors.Is(err, sql.ErrNoRows) {
				continue // stored already
			}
			if err != nil {
				return err
			}
			dl.ID, dl.State = id, webhooks.StatePending
			created = append(created, dl)
		}
		if after == nil {
			return nil
		}
		return after(tx, created)
	})
}

// WebhookDelivery implements webhooks.Store.
func (d *DB) WebhookDelivery(ctx context.Context, id int64) (webhooks.Delivery, error) {
	row, err := d.read.GetWebhookDelivery(ctx, id)
	if err != nil {
		return webhooks.Delivery{}, translate(err, webhooks.ErrNotFound)
	}
	return toDelivery(row), nil
}

// WebhookDeliveries implements webhooks.Store.
func (d *DB) WebhookDeliveries(ctx context.Context, endpointID, state string, before int64, limit int) ([]webhooks.Delivery, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := d.read.ListWebhookDeliveries(ctx, gen.ListWebhookDeliveriesParams{
		EndpointID: endpointID, State: sql.NullString{String: state, Valid: state != ""},
		Before: before, MaxRows: int64(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Delivery, len(rows))
	for i, r := range rows {
		out[i] = toDelivery(r)
	}
	return out, nil
}

// WebhookAttempted implements webhooks.Store.
func (d *DB) WebhookAttempted(ctx context.Context, a webhooks.Attempt) (disabled bool, err error) {
	at := db.Millis(a.At)
	err = d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		p := gen.RecordWebhookAttemptParams{
			ID: a.DeliveryID, LastStatus: a.Status, LastError: a.Error, At: nullTime(at), State: webhooks.StatePending,
		}
		switch {
		case a.Error == "":
			p.State, p.DeliveredAt = webhooks.StateDelivered, nullTime(at)
		case a.Final:
			p.State = webhooks.StateFailed
		}
		if err := q.RecordWebhookAttempt(ctx, p); err != nil {
			return err
		}
		if a.Error == "" {
			return q.WebhookEndpointSucceeded(ctx, a.EndpointID)
		}
		if err := q.WebhookEndpointFailed(ctx, gen.WebhookEndpointFailedParams{ID: a.EndpointID, At: nullTime(at)}); err != nil {
			return err
		}
		if a.DisableBefore.IsZero() {
			return nil
		}
		n, err := q.DisableFailingWebhookEndpoint(ctx, gen.DisableFailingWebhookEndpointParams{
			ID: a.EndpointID, At: nullTime(at), Before: nullTime(db.Millis(a.DisableBefore)),
		})
		disabled = n == 1
		return err
	})
	return disabled, err
}

// FailWebhookDelivery implements webhooks.Store.
func (d *DB) FailWebhookDelivery(ctx context.Context, id int64, why string) error {
	return d.write.FailWebhookDelivery(ctx, gen.FailWebhookDeliveryParams{ID: id, LastError: why})
}

// ResendWebhookDelivery implements webhooks.Store.
func (d *DB) ResendWebhookDelivery(ctx context.Context, endpointID string, id int64, after func(*sql.Tx, webhooks.Delivery) error) (webhooks.Delivery, error) {
	var dl webhooks.Delivery
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		ep, err := q.GetWebhookEndpoint(ctx, endpointID)
		if err != nil {
			return translate(err, webhooks.ErrNotFound)
		}
		cur, err := q.GetWebhookDelivery(ctx, id)
		switch {
		case err != nil:
			return translate(err, webhooks.ErrNotFound)
		case cur.EndpointID != endpointID:
			return webhooks.ErrNotFound
		case ep.DisabledAt.Valid:
			return webhooks.ErrDisabled
		}
		// The update skips a pending delivery (of resends at once, one wins).
		row, err := q.ResendWebhookDelivery(ctx, gen.ResendWebhookDeliveryParams{ID: id, EndpointID: endpointID})
		if err != nil {
			return translate(err, webhooks.ErrPending)
		}
		dl = toDelivery(row)
		if after == nil {
			return nil
		}
		return after(tx, dl)
	})
	return dl, err
}

// AdminEmails implements webhooks.Store.
func (d *DB) AdminEmails(ctx context.Context) ([]string, error) {
	return d.read.ListAdminEmails(ctx)
}

// PruneWebhookDeliveries implements webhooks.Store.
func (d *DB) PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return d.write.PruneWebhookDeliveries(ctx, gen.PruneWebhookDeliveriesParams{Before: db.Millis(cutoff), Batch: int64(batch)})
}

func toEndpoint(r gen.WebhookEndpoint) (webhooks.Endpoint, error) {
	e := webhooks.Endpoint{
		ID: r.ID, URL: r.Url, Secret: r.Secret, PreviousSecret: r.PreviousSecret,
		PreviousUntil: timeOrZero(r.PreviousUntil), CreatedAt: r.CreatedAt.UTC(),
		DisabledAt: timeOrZero(r.DisabledAt), DisabledReason: r.DisabledReason,
		FailingSince: timeOrZero(r.FailingSince),
	}
	if err := json.Unmarshal([]byte(r.Events), &e.Events); err != nil {
		return webhooks.Endpoint{}, err
	}
	return e, nil
}

func toDelivery(r gen.WebhookDelivery) webhooks.Delivery {
	return webhooks.Delivery{
		ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, Type: r.Type, Body: []byte(r.Body),
		EventAt: r.EventAt.UTC(), State: r.State, Attempts: r.Attempts, Resends: r.Resends,
		LastStatus: r.LastStatus, LastError: r.LastError,
		LastAttemptAt: timeOrZero(r.LastAttemptAt), DeliveredAt: timeOrZero(r.DeliveredAt),
	}
}
