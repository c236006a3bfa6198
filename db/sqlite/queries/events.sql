-- name: InsertEvent :exec
INSERT INTO events (type, created_at, user_id, actor, ip, user_agent, data)
VALUES (sqlc.arg(type), sqlc.arg(created_at), sqlc.narg(user_id), sqlc.arg(actor), sqlc.arg(ip), sqlc.arg(user_agent), sqlc.arg(data));

-- name: InsertEventReturningID :one
INSERT INTO events (type, created_at, user_id, actor, ip, user_agent, data)
VALUES (sqlc.arg(type), sqlc.arg(created_at), sqlc.narg(user_id), sqlc.arg(actor), sqlc.arg(ip), sqlc.arg(user_agent), sqlc.arg(data))
RETURNING id;

-- The listings, newest first, below a cursor (an id): one query per filter
-- that leads, so that each walks its own index (events_user, events_actor,
-- events_type, the primary key) backwards from the cursor; the other
-- filters, '' when not given, are checked on the rows it reads.

-- name: ListEventsByUser :many
SELECT id, type, created_at, user_id, actor, ip, user_agent, data FROM events
WHERE user_id = sqlc.arg(user_id) AND id < sqlc.arg(before)
  AND (CAST(sqlc.arg(actor) AS TEXT) = '' OR actor = sqlc.arg(actor))
  AND (CAST(sqlc.arg(type) AS TEXT) = '' OR type = sqlc.arg(type))
  AND created_at >= sqlc.arg(since)
ORDER BY id DESC LIMIT CAST(sqlc.arg(lim) AS BIGINT);

-- name: ListEventsByActor :many
SELECT id, type, created_at, user_id, actor, ip, user_agent, data FROM events
WHERE actor = sqlc.arg(actor) AND id < sqlc.arg(before)
  AND (CAST(sqlc.arg(type) AS TEXT) = '' OR type = sqlc.arg(type))
  AND created_at >= sqlc.arg(since)
ORDER BY id DESC LIMIT CAST(sqlc.arg(lim) AS BIGINT);

-- name: ListEventsByType :many
SELECT id, type, created_at, user_id, actor, ip, user_agent, data FROM events
WHERE type = sqlc.arg(type) AND id < sqlc.arg(before) AND created_at >= sqlc.arg(since)
ORDER BY id DESC LIMIT CAST(sqlc.arg(lim) AS BIGINT);

-- name: ListEvents :many
SELECT id, type, created_at, user_id, actor, ip, user_agent, data FROM events
WHERE id < sqlc.arg(before) AND created_at >= sqlc.arg(since)
ORDER BY id DESC LIMIT CAST(sqlc.arg(lim) AS BIGINT);

-- name: PruneEvents :execrows
-- The oldest batch of events made before the cutoff (AUDIT_RETENTION), by
-- the events_created index: the retention job deletes in batches, each its
-- own short transaction, so that it never holds the writer for long.
DELETE FROM events WHERE id IN (
    SELECT old.id FROM events AS old WHERE old.created_at < sqlc.arg(before) ORDER BY old.created_at LIMIT CAST(sqlc.arg(batch) AS BIGINT)
);
