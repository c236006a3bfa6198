-- +goose Up
-- GET /admin/users?query= finds users by a prefix of their email: a range of
-- lower(email) in byte order, which this index serves whatever the
-- database's collation (users_email_unique orders by it, where a range need
-- not hold exactly the strings with the prefix). SQLite's NOCASE unique
-- index serves the same range.
CREATE INDEX users_email_prefix ON users (lower(email) text_pattern_ops);

-- +goose Down
DROP INDEX users_email_prefix;
