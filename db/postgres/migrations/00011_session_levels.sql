-- +goose Up
-- A session's level and what started it.
--
-- level_gen counts the session's level changes (every raise to aal2, every
-- lowering to aal1): each access token carries it (the claim lvl), and the
-- bearer check refuses a token of an older generation, so a token minted
-- before a level change never speaks for the session again (its client
-- refreshes). level_at is when the level last changed (or the session
-- started): an aal2 session lowers itself AAL2_MAX_AGE after it, an aal1
-- session of an account with a verified factor ends MFA_PENDING_TTL after it.
-- Existing sessions keep generation 0 (their tokens have no lvl claim, which
-- reads as 0) and count from their last refresh.
ALTER TABLE sessions ADD COLUMN level_gen bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN level_at timestamptz;
UPDATE sessions SET level_at = rotated_at;

-- passkey_id and identity_id name the passkey or provider account a session
-- was started with (NULL for a password): removing it ends those sessions.
-- No foreign keys: the removal deletes the sessions in its own transaction
-- and announces them, which a cascade could not.
ALTER TABLE sessions ADD COLUMN passkey_id text;
ALTER TABLE sessions ADD COLUMN identity_id bigint;
-- A provider sign-in's code carries the identity to the session it starts.
ALTER TABLE oauth_codes ADD COLUMN identity_id bigint;

-- +goose Down
ALTER TABLE oauth_codes DROP COLUMN identity_id;
ALTER TABLE sessions DROP COLUMN identity_id;
ALTER TABLE sessions DROP COLUMN passkey_id;
ALTER TABLE sessions DROP COLUMN level_at;
ALTER TABLE sessions DROP COLUMN level_gen;
