-- Moving users in and out (keel users export, keel users import:
-- db/sqlite/transfer.go). An export reads a page of accounts by id, then
-- what those accounts hold by the range of their ids, in four statements a
-- page rather than four an account.

-- name: ExportUsers :many
SELECT id, email, email_verified, password_hash, created_at, external_id, app_metadata, user_metadata, passkey_handle
FROM users WHERE id > sqlc.arg(after) ORDER BY id LIMIT CAST(sqlc.arg(lim) AS BIGINT);

-- name: ExportIdentities :many
SELECT user_id, provider, subject, email, trusted, created_at FROM identities
WHERE user_id BETWEEN sqlc.arg(first) AND sqlc.arg(last) ORDER BY user_id, created_at, id;

-- name: ExportPasskeys :many
SELECT * FROM passkeys
WHERE user_id BETWEEN sqlc.arg(first) AND sqlc.arg(last) ORDER BY user_id, created_at, id;

-- name: ExportFactors :many
-- Verified factors only: one being enrolled is not yet a way in.
SELECT id, user_id, kind, secret, last_step, created_at FROM mfa_factors
WHERE user_id BETWEEN sqlc.arg(first) AND sqlc.arg(last) AND verified ORDER BY user_id, created_at, id;

-- name: IDsNeverGiven :one
-- No account was ever stored: none there, and no id ever deleted
-- (users_id_floor, migration 00026), so an import may keep its lines' ids
-- without giving any a deleted account's (its sub, its events).
SELECT CAST(NOT EXISTS (SELECT 1 FROM users) AND (SELECT floor FROM users_id_floor) = 0 AS BOOLEAN) AS never;

-- name: GetUserByExternalID :one
SELECT id FROM users WHERE external_id = sqlc.arg(external_id);

-- name: ImportUser :one
-- The id is past every id an account ever had (migration 00026).
INSERT INTO users (id, email, password_hash, created_at, email_verified, external_id, app_metadata, user_metadata, passkey_handle)
VALUES ((SELECT max(coalesce((SELECT max(id) FROM users), 0), floor) + 1 FROM users_id_floor), sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(created_at), sqlc.arg(email_verified), sqlc.narg(external_id),
        sqlc.arg(app_metadata), sqlc.arg(user_metadata), sqlc.narg(passkey_handle))
RETURNING id;

-- name: ImportUserWithID :one
INSERT INTO users (id, email, password_hash, created_at, email_verified, external_id, app_metadata, user_metadata, passkey_handle)
VALUES (sqlc.arg(id), sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(created_at), sqlc.arg(email_verified), sqlc.narg(external_id),
        sqlc.arg(app_metadata), sqlc.arg(user_metadata), sqlc.narg(passkey_handle))
RETURNING id;

-- name: ResyncUserIDs :exec
-- After an account came in with its id: PostgreSQL's identity sequence moves
-- past it; SQLite gives the next rowid after the largest, and has nothing to do.
UPDATE users SET id = id WHERE 0;

-- name: ImportPasskey :exec
INSERT INTO passkeys (id, user_id, credential_id, name, public_key, attestation_type, aaguid, transports,
                      sign_count, user_verified, backup_eligible, backup_state, created_at, last_used_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(credential_id), sqlc.arg(name), sqlc.arg(public_key),
        sqlc.arg(attestation_type), sqlc.arg(aaguid), sqlc.arg(transports), sqlc.arg(sign_count),
        sqlc.arg(user_verified), sqlc.arg(backup_eligible), sqlc.arg(backup_state), sqlc.arg(created_at),
        sqlc.narg(last_used_at));

-- name: ImportFactor :exec
INSERT INTO mfa_factors (id, user_id, kind, secret, verified, last_step, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(kind), sqlc.arg(secret), TRUE, sqlc.arg(last_step),
        sqlc.arg(created_at), sqlc.arg(created_at));
