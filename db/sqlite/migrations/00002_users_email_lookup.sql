-- +goose Up
-- Login looks emails up with `email = ?` (binary collation): the NOCASE unique
-- index cannot serve that, so without this index every login scans the table.
-- Emails are stored normalized (trimmed, lower-cased), so binary equality is
-- the right comparison.
CREATE UNIQUE INDEX users_email_lookup ON users (email);

-- +goose Down
DROP INDEX users_email_lookup;
