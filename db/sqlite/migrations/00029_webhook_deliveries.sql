-- +goose Up
-- One delivery of one event to one endpoint (internal/webhooks): at most
-- one per endpoint and event, however many replicas fan the event out
-- (the unique key). body is the payload as sent, kept so that every retry
-- and resend sends the same bytes even after the event itself is pruned.
-- state is pending (attempts under way), delivered, or failed (retries
-- exhausted, or the endpoint disabled); resends counts the admin's resends,
-- each a new job. Deleted with their endpoint, or once done and as old as
-- the events kept (AUDIT_RETENTION).
CREATE TABLE webhook_deliveries (
    id              INTEGER  PRIMARY KEY AUTOINCREMENT,
    endpoint_id     TEXT     NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        INTEGER  NOT NULL,
    type            TEXT     NOT NULL,
    body            TEXT     NOT NULL,
    event_at        DATETIME NOT NULL,
    state           TEXT     NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER  NOT NULL DEFAULT 0,
    resends         INTEGER  NOT NULL DEFAULT 0,
    last_status     INTEGER  NOT NULL DEFAULT 0,
    last_error      TEXT     NOT NULL DEFAULT '',
    last_attempt_at DATETIME,
    delivered_at    DATETIME,
    UNIQUE (endpoint_id, event_id)
);
-- An endpoint's deliveries, newest first, by state.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, state, id);
-- The oldest first, for the retention job (prune-webhook-deliveries).
CREATE INDEX webhook_deliveries_event_at ON webhook_deliveries (event_at);

-- +goose Down
DROP TABLE webhook_deliveries;
