-- +goose Up
-- The second factor (TOTP), recovery codes, and each session's assurance.
--
-- aal is the session's authenticator assurance level, 'aal1' or 'aal2' (after
-- a TOTP or recovery code); amr is how its first factor was shown, as RFC 8176
-- methods separated by spaces ('pwd'); a session at aal2 adds otp and mfa.
ALTER TABLE sessions ADD COLUMN aal text NOT NULL DEFAULT 'aal1';
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';

-- A factor is unverified until a code from it is accepted, and an unverified
-- one is pruned after expires_at. secret is the TOTP secret sealed with
-- AES-256-GCM under a key the database does not hold (internal/mfa).
-- last_step is the last accepted time step: a code is accepted only when its
-- step is later, compared and set in one statement, so no code works twice,
-- whichever replica checks it.
CREATE TABLE mfa_factors (
    id         text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    secret     bytea       NOT NULL,
    verified   boolean     NOT NULL DEFAULT false,
    last_step  bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id);
-- At most one verified factor of a kind per account.
CREATE UNIQUE INDEX mfa_factors_one_verified ON mfa_factors (user_id, kind) WHERE verified;

-- Recovery codes, as keyed hashes (HMAC-SHA256); a code is deleted when used.
CREATE TABLE mfa_recovery_codes (
    hash    text   PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);

-- +goose Down
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_factors;
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN aal;
