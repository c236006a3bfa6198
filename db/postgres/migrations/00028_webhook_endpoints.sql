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
    id              text        PRIMARY KEY,
    url             text        NOT NULL,
    events          text        NOT NULL CHECK (jsonb_typeof(events::jsonb) = 'array'),
    secret          bytea       NOT NULL,
    previous_secret bytea,
    previous_until  timestamptz,
    created_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    disabled_reason text        NOT NULL DEFAULT '' CHECK (disabled_reason IN ('', 'admin', 'failing')),
    failing_since   timestamptz,
    CHECK ((previous_secret IS NULL) = (previous_until IS NULL)),
    CHECK ((disabled_at IS NULL) = (disabled_reason = ''))
);

-- +goose Down
DROP TABLE webhook_endpoints;
