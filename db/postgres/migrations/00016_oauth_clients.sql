-- +goose Up
-- The clients of keel as an OpenID Provider (internal/clients). id is
-- kc_ and 128 random bits in base64url; secret_hash the SHA-256 (hex) of a
-- confidential client's secret, NULL for a public client. The lists are
-- JSON arrays of strings in text, as on SQLite, so one adapter (twinned)
-- serves both engines: they are read and written whole, never searched.
-- last_used_at is NULL until the client's first token.
CREATE TABLE oauth_clients (
    id                        text        PRIMARY KEY,
    name                      text        NOT NULL,
    secret_hash               text,
    kind                      text        NOT NULL CHECK (kind IN ('confidential', 'public')),
    app_type                  text        NOT NULL CHECK (app_type IN ('web', 'native')),
    redirect_uris             text        NOT NULL CHECK (jsonb_typeof(redirect_uris::jsonb) = 'array'),
    post_logout_redirect_uris text        NOT NULL CHECK (jsonb_typeof(post_logout_redirect_uris::jsonb) = 'array'),
    grant_types               text        NOT NULL CHECK (jsonb_typeof(grant_types::jsonb) = 'array'),
    scopes                    text        NOT NULL CHECK (jsonb_typeof(scopes::jsonb) = 'array'),
    dynamic                   boolean     NOT NULL,
    created_at                timestamptz NOT NULL,
    last_used_at              timestamptz,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);
-- DeleteIdleDynamicClients reads the dynamic clients only.
CREATE INDEX oauth_clients_dynamic ON oauth_clients (created_at) WHERE dynamic;

-- +goose Down
DROP TABLE oauth_clients;
