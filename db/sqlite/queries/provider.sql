-- keel as an OpenID Provider: authorization requests, their codes and the
-- consents users gave (internal/provider's Store; db/sqlite/provider.go).

-- name: CreateAuthRequest :exec
INSERT INTO op_auth_requests (id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
                              code_challenge, max_age, prompt, acr_values, resource, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(client_id), sqlc.arg(redirect_uri), sqlc.arg(scopes), sqlc.arg(state), sqlc.arg(nonce),
        sqlc.arg(response_type), sqlc.arg(response_mode), sqlc.arg(code_challenge), sqlc.narg(max_age), sqlc.arg(prompt),
        sqlc.arg(acr_values), sqlc.arg(resource), sqlc.arg(created_at), sqlc.arg(expires_at));

-- name: GetAuthRequest :one
SELECT id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode, code_challenge, max_age,
       prompt, acr_values, resource, user_id, session_id, auth_time, amr, acr, done, code_expires_at, code_used,
       created_at, expires_at
FROM op_auth_requests WHERE id = sqlc.arg(id);

-- name: GetAuthRequestByCode :one
SELECT id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode, code_challenge, max_age,
       prompt, acr_values, resource, user_id, session_id, auth_time, amr, acr, done, code_expires_at, code_used,
       created_at, expires_at
FROM op_auth_requests WHERE code_hash = sqlc.arg(code_hash);

-- name: AcceptAuthRequest :execrows
-- Only a pending request, once: a second accept finds it done.
UPDATE op_auth_requests
SET user_id = sqlc.arg(user_id), session_id = sqlc.arg(session_id), auth_time = sqlc.narg(auth_time),
    amr = sqlc.arg(amr), acr = sqlc.arg(acr), done = true
WHERE id = sqlc.arg(id) AND NOT done AND expires_at > sqlc.arg(now);

-- name: SaveAuthCode :execrows
-- One code per accepted request: the callback cannot mint a second. The
-- row is kept until keep_until, past the code's expiry, so that a late
-- replay of the spent code is still seen.
UPDATE op_auth_requests SET code_hash = sqlc.arg(code_hash), code_expires_at = sqlc.arg(code_expires_at),
                            expires_at = sqlc.arg(keep_until)
WHERE id = sqlc.arg(id) AND done AND code_hash IS NULL;

-- name: SpendAuthCode :execrows
-- The database decides which of two exchanges of one code wins.
UPDATE op_auth_requests SET code_used = true
WHERE id = sqlc.arg(id) AND code_hash IS NOT NULL AND NOT code_used;

-- name: DeleteAuthRequest :exec
DELETE FROM op_auth_requests WHERE id = sqlc.arg(id);

-- name: PruneAuthRequests :execrows
DELETE FROM op_auth_requests WHERE expires_at <= sqlc.arg(now);

-- name: GetConsent :one
SELECT scopes FROM op_consents WHERE user_id = sqlc.arg(user_id) AND client_id = sqlc.arg(client_id);

-- name: SaveConsent :exec
INSERT INTO op_consents (user_id, client_id, scopes, created_at)
VALUES (sqlc.arg(user_id), sqlc.arg(client_id), sqlc.arg(scopes), sqlc.arg(created_at))
ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes;

-- name: ListConsents :many
SELECT client_id, scopes, created_at FROM op_consents WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at, client_id;

-- name: DeleteConsent :execrows
DELETE FROM op_consents WHERE user_id = sqlc.arg(user_id) AND client_id = sqlc.arg(client_id);

-- name: DeleteUserClientSessions :many
-- Withdrawn consent ends the user's grants to the client, in its
-- transaction (returned, for the announcement that closes their sockets).
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) AND client_id = sqlc.arg(client_id)
RETURNING id;

-- name: SaveRequestGrantScopes :exec
-- An accepted request's grant keeps the request's scopes.
INSERT INTO op_grants (session_id, scopes)
SELECT session_id, scopes FROM op_auth_requests WHERE id = sqlc.arg(id) AND session_id IS NOT NULL;

-- name: GetGrantScopes :one
SELECT scopes FROM op_grants WHERE session_id = sqlc.arg(session_id);
