-- name: CreateUser :one
INSERT INTO users (email, password_hash, created_at)
VALUES (?, ?, ?)
RETURNING id, email, created_at;

-- name: GetUser :one
SELECT id, email, created_at FROM users WHERE id = ?;

-- name: GetCredentials :one
SELECT id, password_hash FROM users WHERE email = ?;

-- name: CountUsers :one
SELECT count(*) FROM users;
