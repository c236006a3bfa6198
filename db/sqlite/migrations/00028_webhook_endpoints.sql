-- +goose Up
-- Webhook endpoints (issue 27, internal/webhooks): where keel sends the
-- events an app subscribes to. id is ep_ and 96 random bits in hex; events
-- is a JSON array of webhook types, read and written whole. secret is the
-- signing key sealed (AES-256-GCM under MFA_KEY, or JWT_SECRET without it),
-- since keel must sign with it; previous_secret the one a rotation replaced,
-- which also signs until previous_until. An endpoint is disabled by an
-- admin ('admin') or by failing since failing_since for
-- WEBHOOKS_DISABLE_AFTER ('failing').
CREATE TABLE webhook_endpoints (
    id              TEXT     PRIMARY KEY,
    url             TEXT     NOT NULL,
    events          TEXT     NOT NULL CHECK (json_type(events) = 'array'),
    secret          BLOB     NOT NULL,
    previous_secret BLOB,
    previous_until  DATETIME,
    created_at      DATETIME NOT NULL,
    disabled_at     DATETIME,
    disabled_reason TEXT     NOT NULL DEFAULT '' CHECK (disabled_reason IN ('', 'admin', 'failing')),
    failing_since   DATETIME,
    CHECK ((previous_secret IS NULL) = (previous_until IS NULL)),
    CHECK ((disabled_at IS NULL) = (disabled_reason = ''))
);

-- +goose Down
DROP TABLE webhook_endpoints;
