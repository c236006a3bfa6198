-- +goose Up
-- Accounts: sessions (one per login) with their refresh token state, one-time
-- tokens (email verification, password reset), and the verified flag.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- A session is deleted when it ends (logout, reuse detection, password change
-- or reset, account deletion), so a row here is a live session unless its
-- refresh token has expired. refresh_hash is the SHA-256 of the current
-- refresh token; generation counts rotations, rotated_at is the last one
-- (for REFRESH_REUSE_INTERVAL).
CREATE TABLE sessions (
    id                 text        PRIMARY KEY,
    user_id            bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz NOT NULL,
    user_agent         text        NOT NULL,
    generation         bigint      NOT NULL,
    refresh_hash       text        NOT NULL,
    rotated_at         timestamptz NOT NULL,
    refresh_expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time tokens, stored as SHA-256 hashes; a token is deleted when used.
-- email is the address a verification token confirms.
CREATE TABLE one_time_tokens (
    hash       text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL,
    email      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id);

-- +goose Down
DROP TABLE one_time_tokens;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN email_verified;
