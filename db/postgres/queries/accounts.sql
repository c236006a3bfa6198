-- name: GetSessionUser :one
-- The bearer check and GET /profile in one round trip: the user, provided
-- the token's session is still there.
SELECT u.id, u.email, u.created_at, u.email_verified
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id);

-- name: GetSessionCredentials :one
SELECT u.id, u.password_hash
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id);

-- name: CreateSession :exec
INSERT INTO sessions (id, user_id, created_at, last_used_at, user_agent, generation, refresh_hash, rotated_at, refresh_expires_at, aal, amr,
                      level_gen, level_at, passkey_id, identity_id, auth_time, client_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17);

-- name: GetSession :one
-- The refresh and the upgrade read the session's state, its level, and
-- whether the account has a verified factor (an aal1 session then waits for
-- it and is not refreshed); and the account's app_metadata, whose roles and
-- listed claims the tokens they issue carry (internal/claims), in the same
-- round trip.
SELECT s.id, s.user_id, s.created_at, s.generation, s.refresh_hash, s.rotated_at, s.refresh_expires_at, s.aal, s.amr,
       s.level_gen, s.level_at, s.auth_time, s.client_id,
       (SELECT count(*) FROM mfa_factors f WHERE f.user_id = s.user_id AND f.verified) AS factors,
       u.app_metadata
FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = sqlc.arg(id);

-- name: RotateRefresh :one
-- The database decides which of concurrent refreshes of one token wins: only
-- the one whose UPDATE still finds the old hash.
UPDATE sessions
SET refresh_hash = sqlc.arg(new_hash), generation = generation + 1, rotated_at = sqlc.arg(now),
    last_used_at = sqlc.arg(now), refresh_expires_at = sqlc.arg(expires_at)
WHERE id = sqlc.arg(id) AND refresh_hash = sqlc.arg(old_hash)
RETURNING generation;

-- name: ListSessions :many
SELECT id, created_at, last_used_at, user_agent, refresh_expires_at, aal, amr, client_id
FROM sessions WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at DESC, id;

-- name: DeleteSession :execrows
DELETE FROM sessions WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeleteSessionByID :exec
DELETE FROM sessions WHERE id = sqlc.arg(id);

-- name: DeleteSessionsExcept :exec
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) AND id <> sqlc.arg(keep);

-- name: SetPassword :execrows
UPDATE users SET password_hash = sqlc.arg(password_hash) WHERE id = sqlc.arg(id);

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = sqlc.arg(id);

-- name: CreateOneTimeToken :exec
INSERT INTO one_time_tokens (hash, user_id, purpose, email, expires_at)
VALUES ($1, $2, $3, $4, $5);

-- name: TakeOneTimeToken :one
-- Deleting is what makes a token one-time: of two requests with one token,
-- only one gets the row back.
DELETE FROM one_time_tokens WHERE hash = sqlc.arg(hash) AND purpose = sqlc.arg(purpose)
RETURNING user_id, email, expires_at;

-- name: DeleteOneTimeTokens :exec
DELETE FROM one_time_tokens WHERE user_id = sqlc.arg(user_id) AND purpose = sqlc.arg(purpose);

-- name: MarkEmailVerified :execrows
UPDATE users SET email_verified = TRUE WHERE id = sqlc.arg(id) AND email = sqlc.arg(email);

-- name: DeleteExpiredSessions :many
-- A batch of the sessions whose refresh token has expired (at now, as the
-- server counts it: not before its expiry): they can never be used again.
-- Each is returned for its event (session.ended, why expired).
DELETE FROM sessions WHERE id IN (
    SELECT old.id FROM sessions AS old WHERE old.refresh_expires_at <= sqlc.arg(now)
    LIMIT CAST(sqlc.arg(batch) AS BIGINT)
)
RETURNING id, user_id, refresh_expires_at;

-- name: DeleteExpiredTokens :execrows
DELETE FROM one_time_tokens WHERE expires_at <= sqlc.arg(now);

-- name: StampAuthTime :execrows
-- The session's user has just proved themselves (POST /reauthenticate, a
-- password change): changes to the account's authenticators are allowed
-- until auth_time + REAUTH_MAX_AGE.
UPDATE sessions SET auth_time = sqlc.arg(auth_time)
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);
