-- name: CreateOAuthFlow :exec
INSERT INTO oauth_flows (state_hash, provider, nonce, verifier, code_challenge, redirect_to, link_user_id, link_session_id, expires_at)
VALUES (sqlc.arg(state_hash), sqlc.arg(provider), sqlc.arg(nonce), sqlc.arg(verifier), sqlc.arg(code_challenge),
        sqlc.arg(redirect_to), sqlc.narg(link_user_id), sqlc.narg(link_session_id), sqlc.arg(expires_at));

-- name: TakeOAuthFlow :one
-- Deleting is what makes a flow one-use: of two callbacks with one state,
-- only one gets the row back.
DELETE FROM oauth_flows WHERE state_hash = sqlc.arg(state_hash)
RETURNING provider, nonce, verifier, code_challenge, redirect_to, link_user_id, link_session_id, expires_at;

-- name: CreateOAuthCode :exec
INSERT INTO oauth_codes (hash, user_id, provider, code_challenge, link_subject, link_email, link_email_verified,
                         link_session_id, identity_id, auth_time, expires_at)
VALUES (sqlc.arg(hash), sqlc.arg(user_id), sqlc.arg(provider), sqlc.arg(code_challenge),
        sqlc.arg(link_subject), sqlc.arg(link_email), sqlc.arg(link_email_verified),
        sqlc.narg(link_session_id), sqlc.narg(identity_id), sqlc.narg(auth_time), sqlc.arg(expires_at));

-- name: TakeOAuthCode :one
DELETE FROM oauth_codes WHERE hash = sqlc.arg(hash)
RETURNING user_id, provider, code_challenge, link_subject, link_email, link_email_verified, link_session_id, identity_id,
          auth_time, expires_at;

-- name: GetOAuthCodeUser :one
-- The user a code is for, read before the user's row is locked and the
-- code taken (RedeemOAuthCode): the row lock comes first, in the order a
-- password reset takes them (the user's row, then the codes it voids).
SELECT user_id FROM oauth_codes WHERE hash = sqlc.arg(hash);

-- name: DeleteOAuthCode :exec
DELETE FROM oauth_codes WHERE hash = sqlc.arg(hash);

-- name: GetIdentityUser :one
SELECT user_id FROM identities WHERE provider = sqlc.arg(provider) AND subject = sqlc.arg(subject);

-- name: GetIdentityID :one
-- The identity a sign-in went through, for the session it starts.
SELECT id FROM identities WHERE provider = sqlc.arg(provider) AND subject = sqlc.arg(subject);

-- name: GetUserByEmail :one
-- lower(email), as GetCredentials.
SELECT id, email, created_at, email_verified FROM users WHERE lower(email) = lower(sqlc.arg(email));

-- name: CreateIdentity :exec
INSERT INTO identities (user_id, provider, subject, email, trusted, created_at)
VALUES (sqlc.arg(user_id), sqlc.arg(provider), sqlc.arg(subject), sqlc.arg(email), sqlc.arg(trusted), sqlc.arg(created_at));

-- name: DeleteUntrustedIdentities :execrows
-- The identities that created the account with an address nobody had
-- proved, dropped when someone proves it (see the migration).
DELETE FROM identities WHERE user_id = sqlc.arg(user_id) AND NOT trusted;

-- name: ListIdentities :many
SELECT id, provider, subject, email, created_at FROM identities
WHERE user_id = sqlc.arg(user_id) ORDER BY created_at, id;

-- name: CountWaysIn :one
-- What the account can sign in with besides one identity: its password (when
-- it has one), its other identities and its passkeys.
SELECT (SELECT count(*) FROM users u WHERE u.id = sqlc.arg(user_id) AND u.password_hash <> '')
     + (SELECT count(*) FROM identities i WHERE i.user_id = sqlc.arg(user_id) AND i.id <> sqlc.arg(id))
     + (SELECT count(*) FROM passkeys p WHERE p.user_id = sqlc.arg(user_id))
     AS ways;

-- name: DeleteIdentity :execrows
DELETE FROM identities WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeleteExpiredOAuthFlows :execrows
DELETE FROM oauth_flows WHERE expires_at <= sqlc.arg(now);

-- name: DeleteExpiredOAuthCodes :execrows
DELETE FROM oauth_codes WHERE expires_at <= sqlc.arg(now);

-- name: LockUser :execrows
-- A no-op update whose row lock (on PostgreSQL; SQLite has one writer)
-- serializes the transactions that decide on one account's ways in.
UPDATE users SET email_verified = email_verified WHERE id = sqlc.arg(id);

-- name: CountUntrustedIdentities :one
SELECT count(*) FROM identities WHERE user_id = sqlc.arg(user_id) AND NOT trusted;

-- name: DeleteUserOAuthCodes :exec
DELETE FROM oauth_codes WHERE user_id = sqlc.arg(user_id);

-- name: DeleteUserLinkFlows :exec
DELETE FROM oauth_flows WHERE link_user_id = sqlc.arg(user_id);

-- name: DeleteSessionsByIdentity :many
-- The sessions an unlinked provider account started end with it.
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) AND identity_id = sqlc.arg(identity_id)
RETURNING id;

-- name: DeleteIdentityOAuthCodes :exec
-- The sign-in codes an unlinked provider account left, not yet redeemed:
-- they would start sessions of an identity that is gone.
DELETE FROM oauth_codes WHERE user_id = sqlc.arg(user_id) AND identity_id = sqlc.arg(identity_id);

-- name: IdentityOwned :one
-- Whether the identity a sign-in code went through is still the user's
-- (RedeemOAuthCode, under the user's row lock).
SELECT count(*) FROM identities WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);
