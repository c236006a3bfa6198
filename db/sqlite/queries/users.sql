-- name: CreateUser :one
INSERT INTO users (email, password_hash, created_at)
VALUES (?, ?, ?)
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
