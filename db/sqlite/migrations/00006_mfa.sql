-- +goose Up
-- The second factor (TOTP), recovery codes, and each session's assurance.
--
-- aal is the session's authenticator assurance level, 'aal1' or 'aal2' (after
-- a TOTP or recovery code); amr is how its first factor was shown, as RFC 8176
-- methods separated by spaces ('pwd'); a session at aal2 adds otp and mfa.
ALTER TABLE sessions ADD COLUMN aal TEXT NOT NULL DEFAULT 'aal1';
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- A factor is unverified until a code from it is accepted, and an unverified
-- one is pruned after expires_at. secret is the TOTP secret sealed with
-- AES-256-GCM under a key the database does not hold (internal/mfa).
-- last_step is the last accepted time step: a code is accepted only when its
-- step is later, compared and set in one statement, so no code works twice.
CREATE TABLE mfa_factors (
    id         TEXT     PRIMARY KEY,
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT     NOT NULL,
    secret     BLOB     NOT NULL,
    verified   BOOLEAN  NOT NULL DEFAULT FALSE,
    last_step  INTEGER  NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id);
-- At most one verified factor of a kind per account.
CREATE UNIQUE INDEX mfa_factors_one_verified ON mfa_factors (user_id, kind) WHERE verified;

-- Recovery codes, as keyed hashes (HMAC-SHA256); a code is deleted when used.
CREATE TABLE mfa_recovery_codes (
    hash    TEXT    PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);

-- +goose Down
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_factors;
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN aal;
