-- Bans (issue 26): a banned account is refused at every way in once its
-- credential checks out. The ban is read under the account's row lock in
-- the transaction that would start a session (createSession) or store a
-- provider sign-in's code (SignInWithProvider); a ban ends every session in
-- the transaction that sets it, so either the ban commits first and the
-- sign-in sees it, or the sign-in commits first and the ban ends its session.

-- name: GetBan :one
SELECT banned_at, banned_until, ban_reason FROM users WHERE id = sqlc.arg(id);

-- name: SetBan :execrows
UPDATE users SET banned_at = sqlc.arg(banned_at), banned_until = sqlc.narg(banned_until), ban_reason = sqlc.arg(ban_reason)
WHERE id = sqlc.arg(id);

-- name: ClearBan :execrows
UPDATE users SET banned_at = NULL, banned_until = NULL, ban_reason = NULL
WHERE id = sqlc.arg(id) AND banned_at IS NOT NULL;

-- name: DeleteUserSessions :many
-- Every session of the user, its grants to clients among them, returning
-- their ids for the announcement and the event.
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) RETURNING id;
