-- name: InsertEvent :exec
INSERT INTO events (type, created_at, user_id, actor, ip, user_agent, data)
VALUES (sqlc.arg(type), sqlc.arg(created_at), sqlc.narg(user_id), sqlc.arg(actor), sqlc.arg(ip), sqlc.arg(user_agent), sqlc.arg(data));
