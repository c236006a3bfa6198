-- name: CreateUser :one
INSERT INTO users (email, password_hash, created_at)
VALUES ($1, $2, $3)
RETURNING id, email, created_at, email_verified;

-- name: GetUser :one
SELECT id, email, created_at, email_verified FROM users WHERE id = $1;

-- name: GetCredentials :one
SELECT id, password_hash FROM users WHERE lower(email) = lower(sqlc.arg(email));

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: CountUsersBefore :one
SELECT count(*) FROM users WHERE created_at < sqlc.arg(before);
