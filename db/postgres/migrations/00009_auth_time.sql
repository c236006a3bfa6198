-- +goose Up
-- When a session's user last proved themselves (a password, a TOTP or
-- recovery code, a user-verifying passkey, or a provider sign-in whose ID
-- token says it authenticated the user after keel asked): changing the
-- account's authenticators needs a proof newer than REAUTH_MAX_AGE. NULL is
-- no proof yet (a passkey sign-in without user verification, a provider
-- sign-in without a fresh auth_time, and every session from before this
-- migration). A provider sign-in's code carries the ID token's auth_time to
-- the session POST /oauth/token starts.
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;
ALTER TABLE oauth_codes ADD COLUMN auth_time timestamptz;

-- +goose Down
ALTER TABLE oauth_codes DROP COLUMN auth_time;
ALTER TABLE sessions DROP COLUMN auth_time;
