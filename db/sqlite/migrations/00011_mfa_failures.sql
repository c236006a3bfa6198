-- +goose Up
-- Consecutive wrong TOTP codes of a verified factor, counted in the database
-- so every replica sees one count: each code taken counts one before it is
-- judged (a compare-and-set under MFA_MAX_FAILURES, so racing guesses cannot
-- pass it), a right code (its step taken) sets it back to 0, and at
-- MFA_MAX_FAILURES the factor takes no more codes until a recovery code or
-- the mailed unlock link sets it back.
ALTER TABLE mfa_factors ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE mfa_factors DROP COLUMN failures;
