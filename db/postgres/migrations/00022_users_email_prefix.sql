-- +goose Up
-- GET /admin/users?query= finds users by a prefix of their email: a range of
-- lower(email) in byte order. The unique index on lower(email) becomes one of
-- text_pattern_ops, which orders by bytes whatever the database's collation
-- (under the collation's order a range need not hold exactly the strings with
-- the prefix): the same uniqueness (its equality is text's), the same login
-- lookup (lower(email) = lower($1)), and the prefix's range too, one index
-- for all three. SQLite's NOCASE unique index serves the same range.
-- ?state=banned reads the few banned accounts through users_banned instead
-- of every account.
DROP INDEX users_email_unique;
CREATE UNIQUE INDEX users_email_unique ON users (lower(email) text_pattern_ops);
CREATE INDEX users_banned ON users (id) WHERE banned_at IS NOT NULL;

-- +goose Down
DROP INDEX users_banned;
DROP INDEX users_email_unique;
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));
