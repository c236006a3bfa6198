package server

// The admin API's webhook endpoints (tag admin, docs/webhooks.md): thin
// handlers over internal/webhooks (the rules) and the store (webhooks.Store).
// adminAuth is checked before any of them runs (admin.go).

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/webhooks"
)

var errNoSuchWebhook = &Error{Status: http.StatusNotFound, Detail: "no such webhook endpoint"}

// webhookStore is the store's webhooks (both adapters keep them).
func (s *Server) webhookStore() webhooks.Store {
	ws, _ := s.store.(webhooks.Store)
	return ws
}

// badWebhook is a 400 for a URL or event list the rules refuse, saying why.
func badWebhook(err error) error {
	return &Error{Status: http.StatusBadRequest, Detail: err.Error()}
}

// AdminListWebhooks lists the endpoints.
func (s *Server) AdminListWebhooks(ctx context.Context, _ oapi.AdminListWebhooksRequestObject) (oapi.AdminListWebhooksResponseObject, error) {
	list, err := s.webhookStore().WebhookEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := oapi.WebhookEndpointList{Endpoints: make([]oapi.WebhookEndpoint, len(list))}
	for i, e := range list {
		out.Endpoints[i] = toWebhookEndpoint(e)
	}
	return oapi.AdminListWebhooks200JSONResponse(out), nil
}

// AdminCreateWebhook registers an endpoint and shows its secret once.
func (s *Server) AdminCreateWebhook(ctx context.Context, req oapi.AdminCreateWebhookRequestObject) (oapi.AdminCreateWebhookResponseObject, error) {
	if _, err := webhooks.CheckURL(req.Body.URL, s.cfg.WebhooksAllowPrivate); err != nil {
		return nil, badWebhook(err)
	}
	events, err := webhooks.CheckTypes(eventTypes(req.Body.Events))
	if err != nil {
		return nil, badWebhook(err)
	}
	ep, secret := webhooks.NewEndpoint(s.mfa, req.Body.URL, events, db.Millis(s.now()))
	if err := s.webhookStore().CreateWebhookEndpoint(ctx, ep); err != nil {
		return nil, err
	}
	return oapi.AdminCreateWebhook201JSONResponse{Endpoint: toWebhookEndpoint(ep), Secret: secret}, nil
}

// AdminGetWebhook shows one endpoint.
func (s *Server) AdminGetWebhook(ctx context.Context, req oapi.AdminGetWebhookRequestObject) (oapi.AdminGetWebhookResponseObject, error) {
	e, err := s.webhookStore().WebhookEndpoint(ctx, req.ID)
	if err != nil {
		return nil, webhookErr(err)
	}
	return oapi.AdminGetWebhook200JSONResponse(toWebhookEndpoint(e)), nil
}

// AdminUpdateWebhook changes what the request gives.
func (s *Server) AdminUpdateWebhook(ctx context.Context, req oapi.AdminUpdateWebhookRequestObject) (oapi.AdminUpdateWebhookResponseObject, error) {
	b := req.Body
	if b.URL != nil {
		if _, err := webhooks.CheckURL(*b.URL, s.cfg.WebhooksAllowPrivate); err != nil {
			return nil, badWebhook(err)
		}
	}
	var events []string
	if b.Events != nil {
		var err error
		if events, err = webhooks.CheckTypes(eventTypes(*b.Events)); err != nil {
			return nil, badWebhook(err)
		}
	}
	now := db.Millis(s.now()) // as stored: a later read shows the same time
	e, err := s.webhookStore().UpdateWebhookEndpoint(ctx, req.ID, func(e *webhooks.Endpoint) error {
		if b.URL != nil {
			e.URL = *b.URL
		}
		if events != nil {
			e.Events = events
		}
		if b.Enabled != nil {
			e.SetEnabled(*b.Enabled, now)
		}
		return nil
	})
	if err != nil {
		return nil, webhookErr(err)
	}
	return oapi.AdminUpdateWebhook200JSONResponse(toWebhookEndpoint(e)), nil
}

// AdminDeleteWebhook deletes an endpoint and its deliveries.
func (s *Server) AdminDeleteWebhook(ctx context.Context, req oapi.AdminDeleteWebhookRequestObject) (oapi.AdminDeleteWebhookResponseObject, error) {
	if err := s.webhookStore().DeleteWebhookEndpoint(ctx, req.ID); err != nil {
		return nil, webhookErr(err)
	}
	return oapi.AdminDeleteWebhook204Response{}, nil
}

// AdminRotateWebhookSecret gives the endpoint a new secret; the old one
// signs beside it for WEBHOOKS_ROTATION_OVERLAP.
func (s *Server) AdminRotateWebhookSecret(ctx context.Context, req oapi.AdminRotateWebhookSecretRequestObject) (oapi.AdminRotateWebhookSecretResponseObject, error) {
	var secret string
	e, err := s.webhookStore().UpdateWebhookEndpoint(ctx, req.ID, func(e *webhooks.Endpoint) error {
		secret = webhooks.Rotate(s.mfa, e, db.Millis(s.now()), s.cfg.WebhooksRotationOverlap)
		return nil
	})
	if err != nil {
		return nil, webhookErr(err)
	}
	return oapi.AdminRotateWebhookSecret200JSONResponse{Secret: secret, PreviousUntil: optTime(e.PreviousUntil)}, nil
}

// AdminListWebhookDeliveries lists an endpoint's deliveries, newest first.
func (s *Server) AdminListWebhookDeliveries(ctx context.Context, req oapi.AdminListWebhookDeliveriesRequestObject) (oapi.AdminListWebhookDeliveriesResponseObject, error) {
	st := s.webhookStore()
	if _, err := st.WebhookEndpoint(ctx, req.ID); err != nil {
		return nil, webhookErr(err)
	}
	var state string
	if req.Params.State != nil {
		state = string(*req.Params.State)
	}
	var before int64
	if req.Params.Before != nil {
		before = *req.Params.Before
	}
	limit := 50
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	ds, err := st.WebhookDeliveries(ctx, req.ID, state, before, limit)
	if err != nil {
		return nil, err
	}
	out := oapi.WebhookDeliveryList{Deliveries: make([]oapi.WebhookDelivery, len(ds))}
	for i, d := range ds {
		if out.Deliveries[i], err = toWebhookDelivery(d); err != nil {
			return nil, err
		}
	}
	return oapi.AdminListWebhookDeliveries200JSONResponse(out), nil
}

// AdminResendWebhookDelivery queues a delivery again, in the transaction
// that counts the resend.
func (s *Server) AdminResendWebhookDelivery(ctx context.Context, req oapi.AdminResendWebhookDeliveryRequestObject) (oapi.AdminResendWebhookDeliveryResponseObject, error) {
	d, err := s.webhookStore().ResendWebhookDelivery(ctx, req.ID, req.DeliveryID, func(tx *sql.Tx, d webhooks.Delivery) error {
		return s.jobs().ResendWebhookTx(ctx, tx, d)
	})
	if err != nil {
		return nil, webhookErr(err)
	}
	out, err := toWebhookDelivery(d)
	if err != nil {
		return nil, err
	}
	return oapi.AdminResendWebhookDelivery202JSONResponse(out), nil
}

func webhookErr(err error) error {
	switch {
	case errors.Is(err, webhooks.ErrNotFound):
		return errNoSuchWebhook
	case errors.Is(err, webhooks.ErrPending):
		return &Error{Status: http.StatusConflict, Detail: "the delivery is queued already: it is sent as soon as its endpoint answers"}
	case errors.Is(err, webhooks.ErrDisabled):
		return &Error{Status: http.StatusConflict, Detail: "the endpoint is disabled: enable it first (PATCH /admin/webhooks/{id} with enabled true)"}
	}
	return err
}

func eventTypes(ts []oapi.WebhookType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func toWebhookEndpoint(e webhooks.Endpoint) oapi.WebhookEndpoint {
	out := oapi.WebhookEndpoint{
		ID: e.ID, URL: e.URL, Enabled: e.Enabled(), CreatedAt: e.CreatedAt.UTC(),
		Events: make([]oapi.WebhookType, len(e.Events)), DisabledAt: optTime(e.DisabledAt),
		FailingSince: optTime(e.FailingSince), PreviousSecretUntil: optTime(e.PreviousUntil),
	}
	for i, t := range e.Events {
		out.Events[i] = oapi.WebhookType(t)
	}
	if e.DisabledReason != "" {
		r := oapi.WebhookEndpointDisabledReason(e.DisabledReason)
		out.DisabledReason = &r
	}
	return out
}

func toWebhookDelivery(d webhooks.Delivery) (oapi.WebhookDelivery, error) {
	out := oapi.WebhookDelivery{
		ID: d.ID, WebhookID: webhooks.MessageID(d.EventID), Type: oapi.WebhookType(d.Type),
		State: oapi.WebhookDeliveryState(d.State), Attempts: d.Attempts, Resends: d.Resends,
		EventAt: d.EventAt.UTC(), LastAttemptAt: optTime(d.LastAttemptAt), DeliveredAt: optTime(d.DeliveredAt),
	}
	if d.LastStatus != 0 {
		st := int(d.LastStatus)
		out.LastStatus = &st
	}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	err := out.Payload.UnmarshalJSON(d.Body)
	return out, err
}

// optTime is t for an optional field: nil when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
