-- An operator's changes to accounts (the admin API, docs/admin.md), and the
-- user's own metadata (db.UserChanges).

-- name: CreateAccount :one
-- The id is past every id an account ever had (migration 00026).
INSERT INTO users (id, email, password_hash, created_at, email_verified, app_metadata)
VALUES ((SELECT max(coalesce((SELECT max(id) FROM users), 0), floor) + 1 FROM users_id_floor), sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(created_at), sqlc.arg(email_verified), sqlc.arg(app_metadata))
RETURNING id, email, created_at, email_verified, app_metadata, user_metadata;

-- name: GetAccount :one
-- The account's own fields, read under its row lock (LockUser) by a change.
SELECT id, email, created_at, email_verified, app_metadata, user_metadata FROM users WHERE id = sqlc.arg(id);

-- name: UpdateAccount :one
UPDATE users
SET email = sqlc.arg(email), email_verified = sqlc.arg(email_verified),
    app_metadata = sqlc.arg(app_metadata), user_metadata = sqlc.arg(user_metadata)
WHERE id = sqlc.arg(id)
RETURNING id, email, created_at, email_verified, app_metadata, user_metadata;

-- name: EndUserSessions :execrows
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id);

-- name: ResetUserFactors :execrows
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id);

-- name: ResetUserRecoveryCodes :execrows
DELETE FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id);

-- name: ResetUserPasskeys :execrows
DELETE FROM passkeys WHERE user_id = sqlc.arg(user_id);
