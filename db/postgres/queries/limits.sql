-- What one account may hold at most (db/limits.go): the counts the store
-- checks under the account's row lock, and the trimming of its sessions.

-- name: CountPasskeys :one
SELECT count(*) FROM passkeys WHERE user_id = sqlc.arg(user_id);

-- name: CountIdentities :one
SELECT count(*) FROM identities WHERE user_id = sqlc.arg(user_id);

-- name: DeleteSessionsPastCap :many
-- Ends the user's sessions past the most recently used `keep`, returning
-- their ids for the announcement.
DELETE FROM sessions WHERE id IN (
    SELECT s.id FROM sessions s WHERE s.user_id = sqlc.arg(user_id)
    ORDER BY s.last_used_at DESC, s.created_at DESC, s.id DESC
    OFFSET sqlc.arg(keep)
)
RETURNING id;
