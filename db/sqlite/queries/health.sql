-- name: Ping :exec
-- Reads one row at most, however large the table: the readiness probe.
SELECT 1 FROM users LIMIT 1;
