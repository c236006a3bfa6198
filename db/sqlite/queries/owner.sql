-- The proof of the address (issue 23): what an account held before its
-- address was proved is cleared when the mailbox's owner takes it over.

-- name: DeleteUserIdentities :exec
DELETE FROM identities WHERE user_id = sqlc.arg(user_id);

-- name: DeleteUserPasskeys :exec
DELETE FROM passkeys WHERE user_id = sqlc.arg(user_id);

-- name: DeleteUserPasskeyCeremonies :exec
DELETE FROM passkey_ceremonies WHERE user_id = sqlc.arg(user_id);

-- name: DeleteUserFactors :exec
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id);

-- name: GetTokenCredentials :one
-- The user of a one-time token and their password hash, without spending
-- the token (a verification needs the password checked first).
SELECT t.user_id, u.password_hash, t.expires_at
FROM one_time_tokens t JOIN users u ON u.id = t.user_id
WHERE t.hash = sqlc.arg(hash) AND t.purpose = sqlc.arg(purpose);

-- name: TrustIdentities :exec
-- The account's holder has proved the address: its identities are theirs.
UPDATE identities SET trusted = TRUE WHERE user_id = sqlc.arg(user_id) AND NOT trusted;
