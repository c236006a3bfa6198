-- name: GetSessionAccess :one
-- The bearer check of every operation, in one round trip: the user, the
-- session's assurance and level generation, and whether the account has a
-- verified second factor, provided the session is still there. No times
-- of the session: its deadlines bound its tokens' exp instead, the few
-- operations that need its last proof of its user read it apart
-- (GetSession), and each column costs GET /profile a conversion (its
-- amr only tokens carry, read from GetSession at each refresh). The
-- user_metadata is GET /profile's, read here so it costs no second query.
SELECT u.id, u.email, u.created_at, u.email_verified, u.user_metadata, s.aal, s.level_gen,
       (SELECT count(*) FROM mfa_factors f WHERE f.user_id = u.id AND f.verified) AS factors
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id);

-- name: CreateFactor :exec
INSERT INTO mfa_factors (id, user_id, kind, secret, created_at, expires_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(kind), sqlc.arg(secret), sqlc.arg(created_at), sqlc.arg(expires_at));

-- name: DeletePendingFactors :exec
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id) AND NOT verified;

-- name: GetFactor :one
SELECT id, user_id, kind, secret, verified, last_step, created_at, expires_at, failures
FROM mfa_factors WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: ListFactors :many
SELECT id, user_id, kind, secret, verified, last_step, created_at, expires_at, failures
FROM mfa_factors WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at, id;

-- name: TakeFactorStep :execrows
-- Compare-and-set of the last accepted time step: of two verifications with
-- one code (or an older one), only the first finds last_step below its step.
-- A right code ends a run of wrong ones: failures starts again at 0.
UPDATE mfa_factors SET last_step = sqlc.arg(step), failures = 0
WHERE id = sqlc.arg(id) AND last_step < sqlc.arg(step);

-- name: CountFactorAttempt :one
-- Counts a code against the verified factor before it is judged, unless
-- max_failures are counted already (the factor is locked): a compare-and-set,
-- so guesses at once cannot pass the bound. A right code's TakeFactorStep
-- sets the count back to 0.
UPDATE mfa_factors SET failures = failures + 1
WHERE id = sqlc.arg(id) AND verified AND failures < sqlc.arg(max_failures)
RETURNING failures;

-- name: GetFactorFailures :one
SELECT failures FROM mfa_factors WHERE id = sqlc.arg(id) AND verified;

-- name: ResetFactorFailures :exec
-- A recovery code or the mailed unlock link unlocks the account's factor.
UPDATE mfa_factors SET failures = 0 WHERE user_id = sqlc.arg(user_id);

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
-- just replaced" (REFRESH_REUSE_INTERVAL) and cannot mint aal2 tokens; the
-- level generation moves on, so no access token of before speaks for it.
-- The code that raises it is a proof of the user: auth_time is now.
UPDATE sessions
SET aal = 'aal2', level_gen = level_gen + 1, generation = generation + 2, refresh_hash = sqlc.arg(refresh_hash), rotated_at = sqlc.arg(now),
    last_used_at = sqlc.arg(now), refresh_expires_at = sqlc.arg(expires_at), level_at = sqlc.arg(now), auth_time = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id) AND generation = sqlc.arg(generation);

-- name: LowerSessions :exec
-- The account's last factor went: its aal2 sessions are aal1, a new level
-- generation each (their aal2 access tokens are refused).
UPDATE sessions SET aal = 'aal1', level_gen = level_gen + 1
WHERE user_id = sqlc.arg(user_id) AND aal = 'aal2';

-- name: LowerSession :execrows
-- An aal2 session past AAL2_MAX_AGE is aal1 again, provided it is still at
-- the level generation the caller read (else another request lowered it).
UPDATE sessions SET aal = 'aal1', level_gen = level_gen + 1, level_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND aal = 'aal2' AND level_gen = sqlc.arg(level_gen);

-- name: DeleteExpiredFactors :execrows
DELETE FROM mfa_factors WHERE NOT verified AND expires_at <= sqlc.arg(now);

-- name: ListFactorSecrets :many
-- A batch of sealed secrets, in id order after the last one read, for keel
-- secrets reseal (ResealFactorSecrets).
SELECT id, secret FROM mfa_factors WHERE id > sqlc.arg(after) ORDER BY id LIMIT CAST(sqlc.arg(batch) AS BIGINT);

-- name: SetFactorSecret :execrows
-- Re-seals a secret, provided it is still the one read: a factor enrolled
-- again meanwhile keeps its new secret.
UPDATE mfa_factors SET secret = sqlc.arg(resealed) WHERE id = sqlc.arg(id) AND secret = sqlc.arg(sealed);
