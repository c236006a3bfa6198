-- +goose Up
-- Accounts: sessions (one per login) with their refresh token state, one-time
-- tokens (email verification, password reset), and the verified flag.
-- Times are compared in Go, not in SQL: SQLite keeps them as text.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- A session is deleted when it ends (logout, reuse detection, password change
-- or reset, account deletion), so a row here is a live session unless its
-- refresh token has expired. refresh_hash is the SHA-256 of the current
-- refresh token; generation counts rotations, rotated_at is the last one
-- (for REFRESH_REUSE_INTERVAL).
CREATE TABLE sessions (
    id                 TEXT     PRIMARY KEY,
    user_id            INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at         DATETIME NOT NULL,
    last_used_at       DATETIME NOT NULL,
    user_agent         TEXT     NOT NULL,
    generation         INTEGER  NOT NULL,
    refresh_hash       TEXT     NOT NULL,
    rotated_at         DATETIME NOT NULL,
    refresh_expires_at DATETIME NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time tokens, stored as SHA-256 hashes; a token is deleted when used.
-- email is the address a verification token confirms (so a token sent before
-- an address changed cannot verify the new one).
CREATE TABLE one_time_tokens (
    hash       TEXT     PRIMARY KEY,
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT     NOT NULL,
    email      TEXT     NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id);

-- +goose Down
DROP TABLE one_time_tokens;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN email_verified;
