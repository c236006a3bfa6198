-- name: GetAdminAccess :one
-- The admin check of every admin request, in one round trip: the bearer
-- check's columns (GetSessionAccess), the account's role, read now (a
-- revoked admin is refused at once), and the session's last proof of its
-- user (destructive operations need it fresh).
SELECT u.id, u.email, u.created_at, u.email_verified, u.role, s.aal, s.level_gen, s.auth_time,
       (SELECT count(*) FROM mfa_factors f WHERE f.user_id = u.id AND f.verified) AS factors
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id);

-- name: GetUserRecord :one
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users WHERE id = sqlc.arg(id);

-- name: GetUserRecordByEmail :one
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users WHERE lower(email) = lower(sqlc.arg(email));

-- name: LockAdmins :many
-- The admins, locked for a role change's transaction on PostgreSQL (FOR
-- UPDATE: of two admins demoting each other at once, the second waits and
-- counts again); SQLite's writer transaction holds the database already.
SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE;

-- name: SetUserRole :execrows
UPDATE users SET role = sqlc.arg(role) WHERE id = sqlc.arg(id);

-- name: ListUsers :many
-- A page of users in id order, after the cursor, of a role and state when
-- given ('': any): the primary key's order, so a page reads at most
-- `limit` matching rows past the cursor. A role other than 'user' goes
-- through users_role.
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users
WHERE id > sqlc.arg(after)
  AND (sqlc.arg(role)::text = '' OR role = sqlc.arg(role))
  AND (sqlc.arg(state)::text = '' OR
       CASE WHEN banned_at IS NOT NULL AND (banned_until IS NULL OR banned_until > sqlc.arg(now)) THEN 'banned'
            WHEN email_verified THEN 'active' ELSE 'unverified' END = sqlc.arg(state))
ORDER BY id
LIMIT sqlc.arg(page_size)::bigint;

-- name: SearchUsers :many
-- ListUsers among the users whose email starts with a prefix (a range on
-- users_email_prefix, lower(email) in byte order (text_pattern_ops):
-- lo is the prefix in lower case, hi the least string above every string
-- that starts with it), or whose id is the query.
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users
WHERE id > sqlc.arg(after)
  AND ((lower(email) ~>=~ sqlc.arg(lo) AND lower(email) ~<~ sqlc.arg(hi)) OR id = sqlc.arg(query_id))
  AND (sqlc.arg(role)::text = '' OR role = sqlc.arg(role))
  AND (sqlc.arg(state)::text = '' OR
       CASE WHEN banned_at IS NOT NULL AND (banned_until IS NULL OR banned_until > sqlc.arg(now)) THEN 'banned'
            WHEN email_verified THEN 'active' ELSE 'unverified' END = sqlc.arg(state))
ORDER BY id
LIMIT sqlc.arg(page_size)::bigint;
