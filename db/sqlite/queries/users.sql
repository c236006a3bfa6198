-- name: CreateUser :one
-- The id is past every id an account ever had (migration 00026): never a
-- deleted account's.
INSERT INTO users (id, email, password_hash, created_at)
VALUES ((SELECT max(coalesce((SELECT max(id) FROM users), 0), floor) + 1 FROM users_id_floor), ?, ?, ?)
RETURNING id, email, created_at, email_verified;

-- name: GetUser :one
SELECT id, email, created_at, email_verified FROM users WHERE id = ?;

-- name: GetCredentials :one
-- COLLATE NOCASE: found in any letter case, as on PostgreSQL (lower(email)),
-- through the NOCASE unique index.
SELECT id, password_hash FROM users WHERE email = sqlc.arg(email) COLLATE NOCASE;

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: CountUsersBefore :one
SELECT count(*) FROM users WHERE created_at < sqlc.arg(before);
