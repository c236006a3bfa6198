-- +goose Up
-- The clients of keel as an OpenID Provider (internal/clients). id is
-- kc_ and 128 random bits in base64url; secret_hash the SHA-256 (hex) of a
-- confidential client's secret, NULL for a public client. The lists are
-- JSON arrays of strings, as on PostgreSQL: they are read and written whole,
-- never searched. last_used_at is NULL until the client's first token.
CREATE TABLE oauth_clients (
    id                        TEXT     PRIMARY KEY,
    name                      TEXT     NOT NULL,
    secret_hash               TEXT,
    kind                      TEXT     NOT NULL CHECK (kind IN ('confidential', 'public')),
    app_type                  TEXT     NOT NULL CHECK (app_type IN ('web', 'native')),
    redirect_uris             TEXT     NOT NULL CHECK (json_type(redirect_uris) = 'array'),
    post_logout_redirect_uris TEXT     NOT NULL CHECK (json_type(post_logout_redirect_uris) = 'array'),
    grant_types               TEXT     NOT NULL CHECK (json_type(grant_types) = 'array'),
    scopes                    TEXT     NOT NULL CHECK (json_type(scopes) = 'array'),
    dynamic                   BOOLEAN  NOT NULL,
    created_at                DATETIME NOT NULL,
    last_used_at              DATETIME,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);
-- DeleteIdleDynamicClients reads the dynamic clients only.
CREATE INDEX oauth_clients_dynamic ON oauth_clients (created_at) WHERE dynamic;

-- +goose Down
DROP TABLE oauth_clients;
