-- What one account may hold at most (db/limits.go): the counts the store
-- checks under the account's row lock, and the trimming of its sessions.

-- name: CountPasskeys :one
SELECT count(*) FROM passkeys WHERE user_id = sqlc.arg(user_id);

-- name: CountIdentities :one
SELECT count(*) FROM identities WHERE user_id = sqlc.arg(user_id);

-- name: DeleteSessionsPastCap :many
-- Ends the user's sessions past the `keep` it keeps, returning their ids for
-- the announcement: aal2 sessions are kept before any aal1 one, then the
-- most recently used. Whoever has only the password must not push the
-- owner's second-factor sessions out by signing in a hundred times (their
-- sessions stop at the second factor, aal1).
DELETE FROM sessions WHERE id IN (
    SELECT s.id FROM sessions s WHERE s.user_id = sqlc.arg(user_id)
    ORDER BY (s.aal = 'aal2') DESC, s.last_used_at DESC, s.created_at DESC, s.id DESC
    OFFSET sqlc.arg(keep)
)
RETURNING id;
