-- Webhook endpoints and their deliveries (internal/webhooks).

-- name: CreateWebhookEndpoint :exec
INSERT INTO webhook_endpoints (id, url, events, secret, created_at)
VALUES (sqlc.arg(id), sqlc.arg(url), sqlc.arg(events), sqlc.arg(secret), sqlc.arg(created_at));

-- name: GetWebhookEndpoint :one
SELECT * FROM webhook_endpoints WHERE id = sqlc.arg(id);

-- name: ListWebhookEndpoints :many
SELECT * FROM webhook_endpoints ORDER BY created_at, id;

-- name: UpdateWebhookEndpoint :exec
UPDATE webhook_endpoints
SET url = sqlc.arg(url), events = sqlc.arg(events), secret = sqlc.arg(secret),
    previous_secret = sqlc.narg(previous_secret), previous_until = sqlc.narg(previous_until),
    disabled_at = sqlc.narg(disabled_at), disabled_reason = sqlc.arg(disabled_reason),
    failing_since = sqlc.narg(failing_since)
WHERE id = sqlc.arg(id);

-- name: DeleteWebhookEndpoint :execrows
DELETE FROM webhook_endpoints WHERE id = sqlc.arg(id);

-- name: CountActiveWebhookEndpoints :one
-- 0 or 1: whether an enabled endpoint takes events of type (an event is
-- fanned out only then). events is a JSON array of names, so the quoted
-- name is in its text exactly when it is in the list ('_' matching any one
-- character only widens it to a fan-out that finds nobody).
SELECT count(*) FROM (
    SELECT 1 FROM webhook_endpoints
    WHERE disabled_at IS NULL AND events LIKE '%"' || CAST(sqlc.arg(type) AS TEXT) || '"%'
    LIMIT 1
) AS active;

-- name: GetWebhookEvent :one
SELECT * FROM events WHERE id = sqlc.arg(id);

-- name: InsertWebhookDelivery :one
-- No row when the endpoint has this event's delivery already (another
-- replica's fan-out, or this one's retried).
INSERT INTO webhook_deliveries (endpoint_id, event_id, type, body, event_at)
VALUES (sqlc.arg(endpoint_id), sqlc.arg(event_id), sqlc.arg(type), sqlc.arg(body), sqlc.arg(event_at))
ON CONFLICT (endpoint_id, event_id) DO NOTHING
RETURNING id;

-- name: GetWebhookDelivery :one
SELECT * FROM webhook_deliveries WHERE id = sqlc.arg(id);

-- name: ListWebhookDeliveries :many
-- An endpoint's deliveries, newest first, in state (all when NULL), with
-- an id below before.
SELECT * FROM webhook_deliveries
WHERE endpoint_id = sqlc.arg(endpoint_id)
  AND (CAST(sqlc.narg(state) AS TEXT) IS NULL OR state = CAST(sqlc.narg(state) AS TEXT))
  AND id < sqlc.arg(before)
ORDER BY id DESC
LIMIT sqlc.arg(max_rows);

-- name: RecordWebhookAttempt :exec
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_status = sqlc.arg(last_status), last_error = sqlc.arg(last_error),
    last_attempt_at = sqlc.arg(at), state = sqlc.arg(state), delivered_at = sqlc.narg(delivered_at)
WHERE id = sqlc.arg(id);

-- name: FailWebhookDelivery :exec
-- A delivery that will not be attempted again (its endpoint is disabled).
UPDATE webhook_deliveries SET state = 'failed', last_error = sqlc.arg(last_error)
WHERE id = sqlc.arg(id) AND state = 'pending';

-- name: WebhookEndpointSucceeded :exec
UPDATE webhook_endpoints SET failing_since = NULL WHERE id = sqlc.arg(id) AND failing_since IS NOT NULL;

-- name: WebhookEndpointFailed :exec
UPDATE webhook_endpoints SET failing_since = sqlc.arg(at) WHERE id = sqlc.arg(id) AND failing_since IS NULL;

-- name: DisableFailingWebhookEndpoint :execrows
-- Disables the endpoint if it has been failing since before (or then), once:
-- the one caller that disables it is the one that tells the admins.
UPDATE webhook_endpoints SET disabled_at = sqlc.arg(at), disabled_reason = 'failing'
WHERE id = sqlc.arg(id) AND disabled_at IS NULL AND failing_since <= sqlc.arg(before);

-- name: ResendWebhookDelivery :one
-- Not while pending: of two resends at once, the second finds none.
UPDATE webhook_deliveries SET state = 'pending', resends = resends + 1
WHERE id = sqlc.arg(id) AND endpoint_id = sqlc.arg(endpoint_id) AND state <> 'pending'
RETURNING *;

-- name: ListAdminEmails :many
SELECT email FROM users WHERE role = 'admin' ORDER BY id;

-- name: PruneWebhookDeliveries :execrows
-- The oldest batch of finished deliveries of events made before the cutoff
-- (AUDIT_RETENTION), each batch its own short transaction.
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT old.id FROM webhook_deliveries AS old
    WHERE old.event_at < sqlc.arg(before) AND old.state <> 'pending'
    ORDER BY old.event_at LIMIT CAST(sqlc.arg(batch) AS BIGINT)
);
