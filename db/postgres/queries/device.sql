-- The device authorization grant (RFC 8628): device codes, their user codes
-- and their polling (internal/provider's DeviceStore; db/sqlite/device.go).

-- name: CreateDeviceCode :exec
INSERT INTO op_device_codes (device_hash, user_hash, client_id, scopes, interval_ms, created_at, expires_at)
VALUES (sqlc.arg(device_hash), sqlc.arg(user_hash), sqlc.arg(client_id), sqlc.arg(scopes), sqlc.arg(interval_ms),
        sqlc.arg(created_at), sqlc.arg(expires_at));

-- name: GetDeviceCodeByUserCode :one
SELECT device_hash, user_hash, client_id, scopes, state, interval_ms, last_poll_at, user_id, session_id, auth_time,
       amr, acr, created_at, expires_at
FROM op_device_codes WHERE user_hash = sqlc.arg(user_hash);

-- name: GetDeviceCodeForPoll :one
-- Locked for the poll's transaction: of two polls at once, one waits.
SELECT device_hash, user_hash, client_id, scopes, state, interval_ms, last_poll_at, user_id, session_id, auth_time,
       amr, acr, created_at, expires_at
FROM op_device_codes WHERE device_hash = sqlc.arg(device_hash) FOR UPDATE;

-- name: RecordDevicePoll :exec
UPDATE op_device_codes SET last_poll_at = sqlc.arg(last_poll_at), interval_ms = sqlc.arg(interval_ms)
WHERE device_hash = sqlc.arg(device_hash);

-- name: DeleteDeviceCode :exec
DELETE FROM op_device_codes WHERE device_hash = sqlc.arg(device_hash);

-- name: ApproveDeviceCode :execrows
-- Only a pending, live code, once: a second answer finds it answered.
UPDATE op_device_codes
SET state = 'approved', user_id = sqlc.arg(user_id), session_id = sqlc.arg(session_id),
    auth_time = sqlc.narg(auth_time), amr = sqlc.arg(amr), acr = sqlc.arg(acr)
WHERE user_hash = sqlc.arg(user_hash) AND state = 'pending' AND expires_at > sqlc.arg(now);

-- name: DenyDeviceCode :execrows
UPDATE op_device_codes SET state = 'denied'
WHERE user_hash = sqlc.arg(user_hash) AND state = 'pending' AND expires_at > sqlc.arg(now);

-- name: PruneDeviceCodes :execrows
DELETE FROM op_device_codes WHERE expires_at <= sqlc.arg(now);

-- name: SaveDeviceGrantScopes :exec
-- An approved device code's grant keeps the code's scopes.
INSERT INTO op_grants (session_id, scopes)
SELECT session_id, scopes FROM op_device_codes WHERE user_hash = sqlc.arg(user_hash) AND session_id IS NOT NULL;
