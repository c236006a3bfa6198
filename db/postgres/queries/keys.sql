-- Signing keys (internal/keys) and the version of their set.

-- name: GetSigningKeysVersion :one
SELECT version FROM signing_key_set WHERE id = 1;

-- name: LockSigningKeys :one
-- The row lock every change takes first: changes from every replica and CLI
-- process wait for one another here, and each then reads the set as the
-- last one left it.
SELECT version FROM signing_key_set WHERE id = 1 FOR UPDATE;

-- name: ListSigningKeys :many
SELECT * FROM signing_keys ORDER BY created_at, id;

-- name: AddSigningKey :exec
INSERT INTO signing_keys (id, alg, state, public_key, sealed_key, created_at, activated_at, retired_at)
VALUES (sqlc.arg(id), sqlc.arg(alg), sqlc.arg(state), sqlc.arg(public_key), sqlc.arg(sealed_key),
        sqlc.arg(created_at), sqlc.narg(activated_at), sqlc.narg(retired_at));

-- name: UpdateSigningKey :execrows
UPDATE signing_keys SET state = sqlc.arg(state), activated_at = sqlc.narg(activated_at),
                        retired_at = sqlc.narg(retired_at)
WHERE id = sqlc.arg(id);

-- name: DeleteSigningKey :execrows
DELETE FROM signing_keys WHERE id = sqlc.arg(id);

-- name: BumpSigningKeysVersion :one
UPDATE signing_key_set SET version = version + 1 WHERE id = 1
RETURNING version;
