-- +goose Up
-- The WebAuthn user handle of an account's passkeys: 32 random bytes, made
-- at its first passkey registration, which name the account to its
-- authenticators and to nothing else (the account id, which keel gave
-- before, is a counter anyone can guess and shows how many accounts there
-- are). NULL for an account whose passkeys were registered before: their
-- authenticators hold the account id, 8 bytes big endian, which still
-- finds it, and its next registration stores that handle here.
ALTER TABLE users ADD COLUMN passkey_handle BLOB;
CREATE UNIQUE INDEX users_passkey_handle ON users (passkey_handle) WHERE passkey_handle IS NOT NULL;

-- +goose Down
DROP INDEX users_passkey_handle;
ALTER TABLE users DROP COLUMN passkey_handle;
