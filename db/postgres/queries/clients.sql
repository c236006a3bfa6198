-- The clients of keel as an OpenID Provider (internal/clients).

-- name: CreateClient :execrows
-- No row when the id is taken (the caller says so): the table's only unique key.
INSERT INTO oauth_clients (id, name, secret_hash, kind, app_type, redirect_uris, post_logout_redirect_uris,
                           grant_types, scopes, dynamic, created_at)
VALUES (sqlc.arg(id), sqlc.arg(name), sqlc.narg(secret_hash), sqlc.arg(kind), sqlc.arg(app_type),
        sqlc.arg(redirect_uris), sqlc.arg(post_logout_redirect_uris), sqlc.arg(grant_types), sqlc.arg(scopes),
        sqlc.arg(dynamic), sqlc.arg(created_at))
ON CONFLICT (id) DO NOTHING;

-- name: GetClient :one
SELECT * FROM oauth_clients WHERE id = sqlc.arg(id);

-- name: ListClients :many
SELECT * FROM oauth_clients ORDER BY created_at, id;

-- name: DeleteClient :execrows
DELETE FROM oauth_clients WHERE id = sqlc.arg(id);

-- name: TouchClient :exec
-- Only forward: a slower request that used the client earlier never moves
-- last_used_at back.
UPDATE oauth_clients SET last_used_at = sqlc.arg(at)
WHERE id = sqlc.arg(id) AND (last_used_at IS NULL OR last_used_at < sqlc.arg(at));

-- name: DeleteIdleDynamicClients :many
-- A dynamic client unused since before; never used, registered before it.
-- Their ids, whose grants end with them (EndClientGrants).
DELETE FROM oauth_clients
WHERE dynamic AND COALESCE(last_used_at, created_at) < sqlc.arg(before)
RETURNING id;

-- name: DeleteClientSessions :many
-- A deleted client's grants end with it, in its transaction: its sessions
-- (returned, for the announcement that closes their sockets), the consents
-- given to it and its authorization requests still pending.
DELETE FROM sessions WHERE client_id = sqlc.arg(client_id)
RETURNING id, user_id;

-- name: DeleteClientConsents :exec
DELETE FROM op_consents WHERE client_id = sqlc.arg(client_id);

-- name: DeleteClientAuthRequests :exec
DELETE FROM op_auth_requests WHERE client_id = sqlc.arg(client_id);
