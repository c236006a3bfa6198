-- name: GetSessionAccess :one
-- The bearer check of every operation, in one round trip: the user, the
-- session's assurance, and whether the account has a verified second factor,
-- provided the session is still there.
SELECT u.id, u.email, u.created_at, u.email_verified, s.aal, s.amr,
       (SELECT count(*) FROM mfa_factors f WHERE f.user_id = u.id AND f.verified) AS factors
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id);

-- name: CreateFactor :exec
INSERT INTO mfa_factors (id, user_id, kind, secret, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(kind), sqlc.arg(secret), sqlc.arg(created_at), sqlc.arg(expires_at));

-- name: DeletePendingFactors :exec
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id) AND NOT verified;

-- name: GetFactor :one
SELECT id, user_id, kind, secret, verified, last_step, created_at, expires_at
FROM mfa_factors WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: ListFactors :many
SELECT id, user_id, kind, secret, verified, last_step, created_at, expires_at
FROM mfa_factors WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at, id;

-- name: TakeFactorStep :execrows
-- Compare-and-set of the last accepted time step: of two verifications with
-- one code (or an older one), only the first finds last_step below its step.
UPDATE mfa_factors SET last_step = sqlc.arg(step)
WHERE id = sqlc.arg(id) AND last_step < sqlc.arg(step);

-- name: CountVerifiedFactors :one
SELECT count(*) FROM mfa_factors WHERE user_id = sqlc.arg(user_id) AND verified;

-- name: MarkFactorVerified :execrows
UPDATE mfa_factors SET verified = TRUE WHERE id = sqlc.arg(id) AND NOT verified;

-- name: DeleteFactor :execrows
DELETE FROM mfa_factors WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeleteRecoveryCodes :exec
DELETE FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id);

-- name: CreateRecoveryCode :exec
INSERT INTO mfa_recovery_codes (hash, user_id) VALUES (sqlc.arg(hash), sqlc.arg(user_id));

-- name: TakeRecoveryCode :execrows
-- Deleting is what makes a recovery code work once.
DELETE FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id) AND hash = sqlc.arg(hash);

-- name: CountRecoveryCodes :one
SELECT count(*) FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id);

-- name: UpgradeSession :execrows
-- Raises the session to aal2 and replaces its refresh token, provided the
-- session is still at the generation the caller read. The generation moves
-- on by two, so the refresh token of before the upgrade is never "the one
-- just replaced" (REFRESH_REUSE_INTERVAL) and cannot mint aal2 tokens.
UPDATE sessions
SET aal = 'aal2', generation = generation + 2, refresh_hash = sqlc.arg(refresh_hash), rotated_at = sqlc.arg(now),
    last_used_at = sqlc.arg(now), refresh_expires_at = sqlc.arg(expires_at)
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id) AND generation = sqlc.arg(generation);

-- name: LowerSessions :exec
UPDATE sessions SET aal = 'aal1' WHERE user_id = sqlc.arg(user_id);

-- name: DeleteExpiredFactors :execrows
DELETE FROM mfa_factors WHERE NOT verified AND expires_at <= sqlc.arg(now);
