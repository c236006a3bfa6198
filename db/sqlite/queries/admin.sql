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
FROM users WHERE email = sqlc.arg(email) COLLATE NOCASE;

-- name: LockAdmins :many
-- The admins with their bans, locked for a role change's transaction on PostgreSQL (FOR
-- UPDATE: of two admins demoting each other at once, the second waits and
-- counts again); SQLite's writer transaction holds the database already.
SELECT id, banned_at, banned_until FROM users WHERE role = 'admin';

-- name: SetUserRole :execrows
UPDATE users SET role = sqlc.arg(role) WHERE id = sqlc.arg(id);

-- The listing (GET /admin/users): a page of users in id order after the
-- cursor, of a role and a state when given ('': any), and whose email
-- starts with a prefix or whose id is the query (lo '': any). Each query
-- has the one shape its index serves, chosen by ListUsers
-- (db/sqlite/admin.go): a page reads few rows past what it returns, however
-- few match. A prefix few emails start with (CountEmailPrefix below its
-- cap) is SearchUsers'; one many start with, a filter of the others, which
-- find a page's worth soon enough in id order.

-- name: ListUsers :many
-- Any role, or 'user' (most accounts); any state, or one most accounts
-- may be in: the primary key's order, read until the page is full or up
-- to the id upto (UserScanEnd's), whichever comes first.
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users
WHERE id > sqlc.arg(after) AND id <= sqlc.arg(upto)
  AND (role = sqlc.arg(role) OR CAST(sqlc.arg(role) AS TEXT) = '')
  AND (CAST(sqlc.arg(state) AS TEXT) = '' OR
       CASE WHEN banned_at IS NOT NULL AND (banned_until IS NULL OR banned_until > sqlc.arg(now)) THEN 'banned'
       WHEN email_verified THEN 'active' ELSE 'unverified' END = sqlc.arg(state))
  AND (CAST(sqlc.arg(lo) AS TEXT) = '' OR (email >= sqlc.arg(lo) COLLATE NOCASE AND email < sqlc.arg(hi) COLLATE NOCASE) OR id = sqlc.arg(query_id))
ORDER BY id
LIMIT sqlc.arg(page_size);

-- name: UserScanEnd :one
-- The id of the skip+1-th user past after (none: fewer are there), where
-- ListUsers's read of a page stops: read before it, as ids only grow, so
-- every user there up to it is read.
SELECT id FROM users WHERE id > sqlc.arg(after) ORDER BY id LIMIT 1 OFFSET sqlc.arg(skip);

-- name: ListAdmins :many
-- The admins: users_role, whose condition is spelled out (SQLite infers
-- no role <> 'user' from role = 'admin').
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users
WHERE role = 'admin' AND role <> 'user' AND id > sqlc.arg(after)
  AND (CAST(sqlc.arg(state) AS TEXT) = '' OR
       CASE WHEN banned_at IS NOT NULL AND (banned_until IS NULL OR banned_until > sqlc.arg(now)) THEN 'banned'
       WHEN email_verified THEN 'active' ELSE 'unverified' END = sqlc.arg(state))
  AND (CAST(sqlc.arg(lo) AS TEXT) = '' OR (email >= sqlc.arg(lo) COLLATE NOCASE AND email < sqlc.arg(hi) COLLATE NOCASE) OR id = sqlc.arg(query_id))
ORDER BY id
LIMIT sqlc.arg(page_size);

-- name: ListBanned :many
-- The banned: users_banned, the few rows with a ban (expired ones are
-- passed over).
SELECT id, email, created_at, email_verified, role, app_metadata, user_metadata, banned_at, banned_until, ban_reason, external_id
FROM users
WHERE banned_at IS NOT NULL AND id > sqlc.arg(after)
  AND (banned_until IS NULL OR banned_until > sqlc.arg(now))
  AND (role = sqlc.arg(role) OR CAST(sqlc.arg(role) AS TEXT) = '')
  AND (CAST(sqlc.arg(lo) AS TEXT) = '' OR (email >= sqlc.arg(lo) COLLATE NOCASE AND email < sqlc.arg(hi) COLLATE NOCASE) OR id = sqlc.arg(query_id))
ORDER BY id
LIMIT sqlc.arg(page_size);

-- name: SearchUsers :many
-- The users whose email starts with a prefix, or whose id is the query:
-- the ids come from a range of users_email_unique, whose NOCASE collation
-- ignores ASCII letter case (lo the prefix in lower case, hi the least string above every string
-- that starts with it), and the user with the query's id; only those rows
-- are read, then sorted.
SELECT u.id, u.email, u.created_at, u.email_verified, u.role, u.app_metadata, u.user_metadata, u.banned_at, u.banned_until, u.ban_reason, u.external_id
FROM users u
WHERE u.id IN (SELECT e.id AS hit FROM users e WHERE e.email >= sqlc.arg(lo) COLLATE NOCASE AND e.email < sqlc.arg(hi) COLLATE NOCASE
             UNION ALL SELECT CAST(sqlc.arg(query_id) AS INTEGER) AS hit)
  AND u.id > sqlc.arg(after)
  AND (u.role = sqlc.arg(role) OR CAST(sqlc.arg(role) AS TEXT) = '')
  AND (CAST(sqlc.arg(state) AS TEXT) = '' OR
       CASE WHEN u.banned_at IS NOT NULL AND (u.banned_until IS NULL OR u.banned_until > sqlc.arg(now)) THEN 'banned'
       WHEN u.email_verified THEN 'active' ELSE 'unverified' END = sqlc.arg(state))
ORDER BY u.id
LIMIT sqlc.arg(page_size);

-- name: CountEmailPrefix :one
-- How many emails start with the prefix, counted up to cap on the email
-- index: whether SearchUsers (few) or a scan in id order (many) finds a
-- page sooner.
SELECT count(*) FROM (SELECT 1 FROM users WHERE email >= sqlc.arg(lo) COLLATE NOCASE AND email < sqlc.arg(hi) COLLATE NOCASE LIMIT sqlc.arg(cap)) AS hits;
