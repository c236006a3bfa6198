-- +goose Up
-- keel as an OpenID Provider (internal/provider, docs/provider.md).
--
-- An authorization request from a client, from /oauth2/authorize until its
-- code is exchanged: what the client asked for, then who accepted it (the
-- login step: user_id, the grant's session_id and what that session's sign-in
-- proved) and the code issued for it, stored as its SHA-256 only. A spent
-- code keeps its row (code_used) until expires_at, so a second use is seen
-- and ends the grant it issued (RFC 9700 §4.2.4). scopes, prompt and
-- acr_values are space-separated; max_age is in seconds, NULL when not asked.
CREATE TABLE op_auth_requests (
    id              TEXT     PRIMARY KEY,
    client_id       TEXT     NOT NULL,
    redirect_uri    TEXT     NOT NULL,
    scopes          TEXT     NOT NULL,
    state           TEXT     NOT NULL DEFAULT '',
    nonce           TEXT     NOT NULL DEFAULT '',
    response_type   TEXT     NOT NULL,
    response_mode   TEXT     NOT NULL DEFAULT '',
    code_challenge  TEXT     NOT NULL DEFAULT '',
    max_age         INTEGER,
    prompt          TEXT     NOT NULL DEFAULT '',
    acr_values      TEXT     NOT NULL DEFAULT '',
    resource        TEXT     NOT NULL DEFAULT '',
    user_id         INTEGER  REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    auth_time       DATETIME,
    amr             TEXT     NOT NULL DEFAULT '',
    acr             TEXT     NOT NULL DEFAULT '',
    done            BOOLEAN  NOT NULL DEFAULT 0,
    code_hash       TEXT     UNIQUE,
    code_expires_at DATETIME,
    code_used       BOOLEAN  NOT NULL DEFAULT 0,
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL
);
CREATE INDEX op_auth_requests_expires ON op_auth_requests (expires_at);

-- The scopes a user consented to give a client, remembered so the login
-- step asks once.
CREATE TABLE op_consents (
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT     NOT NULL,
    scopes     TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- The client a session is a grant to (NULL for keel's own sessions): its
-- refresh tokens are that client's, and ending it ends the grant.
ALTER TABLE sessions ADD COLUMN client_id TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN client_id;
DROP TABLE op_consents;
DROP TABLE op_auth_requests;
