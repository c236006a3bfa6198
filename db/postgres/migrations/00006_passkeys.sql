-- +goose Up
-- Passkeys (WebAuthn credentials) and the state of their ceremonies.
--
-- credential_id is the authenticator's id of the credential: unique across
-- every account, so one credential cannot be registered to two users.
-- sign_count is the last signature counter seen (a count that goes backwards
-- is refused); backup_eligible and backup_state are the BE and BS flags, the
-- first fixed at registration (a change is refused), the second updated at
-- each sign-in, so a synced passkey keeps working.
CREATE TABLE passkeys (
    id               text        PRIMARY KEY,
    user_id          bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id    bytea       NOT NULL,
    name             text        NOT NULL,
    public_key       bytea       NOT NULL,
    attestation_type text        NOT NULL,
    aaguid           bytea       NOT NULL,
    transports       text        NOT NULL,
    sign_count       bigint      NOT NULL,
    user_verified    boolean     NOT NULL,
    backup_eligible  boolean     NOT NULL,
    backup_state     boolean     NOT NULL,
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A ceremony (registration or sign-in) between its options and its answer:
-- the challenge and the rest of go-webauthn's session data, as JSON, kept
-- here so any replica may finish it; taken (deleted) once, good until
-- expires_at. user_id is the registering user (NULL for a sign-in).
CREATE TABLE passkey_ceremonies (
    id         text        PRIMARY KEY,
    user_id    bigint      REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    session    bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);

-- +goose Down
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
