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
    id              text     PRIMARY KEY,
    client_id       text     NOT NULL,
    redirect_uri    text     NOT NULL,
    scopes          text     NOT NULL,
    state           text     NOT NULL DEFAULT '',
    nonce           text     NOT NULL DEFAULT '',
    response_type   text     NOT NULL,
    response_mode   text     NOT NULL DEFAULT '',
    code_challenge  text     NOT NULL DEFAULT '',
    max_age         bigint,
    prompt          text     NOT NULL DEFAULT '',
    acr_values      text     NOT NULL DEFAULT '',
    resource        text     NOT NULL DEFAULT '',
    user_id         bigint   REFERENCES users (id) ON DELETE CASCADE,
    session_id      text,
    auth_time       timestamptz,
    amr             text     NOT NULL DEFAULT '',
    acr             text     NOT NULL DEFAULT '',
    done            boolean  NOT NULL DEFAULT false,
    code_hash       text     UNIQUE,
    code_expires_at timestamptz,
    code_used       boolean  NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX op_auth_requests_expires ON op_auth_requests (expires_at);

-- The scopes a user consented to give a client, remembered so the login
-- step asks once.
CREATE TABLE op_consents (
    user_id    bigint   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text     NOT NULL,
    scopes     text     NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- The client a session is a grant to (NULL for keel's own sessions): its
-- refresh tokens are that client's, and ending it ends the grant.
ALTER TABLE sessions ADD COLUMN client_id text;

-- +goose Down
ALTER TABLE sessions DROP COLUMN client_id;
DROP TABLE op_consents;
DROP TABLE op_auth_requests;
