-- The WebAuthn user handle of an account's passkeys (users.passkey_handle;
-- see its migration).

-- name: GetPasskeyHandle :one
SELECT passkey_handle FROM users WHERE id = sqlc.arg(id);

-- name: SetPasskeyHandle :execrows
-- Only where there is none: an account keeps its handle for good.
UPDATE users SET passkey_handle = sqlc.arg(handle) WHERE id = sqlc.arg(id) AND passkey_handle IS NULL;

-- name: GetPasskeyHandleUser :one
SELECT id FROM users WHERE passkey_handle = sqlc.arg(handle);

-- name: GetLegacyHandleUser :one
-- An account whose passkeys were registered with its id as their handle,
-- before it had a handle of its own.
SELECT id FROM users WHERE id = sqlc.arg(id) AND passkey_handle IS NULL;
