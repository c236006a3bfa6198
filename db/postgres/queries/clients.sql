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

-- name: DeleteIdleDynamicClients :execrows
-- A dynamic client unused since before; never used, registered before it.
DELETE FROM oauth_clients
WHERE dynamic AND COALESCE(last_used_at, created_at) < sqlc.arg(before);
