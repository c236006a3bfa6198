-- What a sign-in checked, read again under the account's row lock before
-- its session is stored (createSession): a reset or a password change that
-- committed meanwhile leaves the sign-in without a session.

-- name: GetPasswordHash :one
SELECT password_hash FROM users WHERE id = sqlc.arg(id);

-- name: HasPasskey :one
SELECT count(*) FROM passkeys WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);
