-- +goose Up
-- GET /admin/users?state=banned reads the few banned accounts through this
-- index instead of every account (the email prefix search uses
-- users_email_unique, the admins users_role).
CREATE INDEX users_banned ON users (id) WHERE banned_at IS NOT NULL;

-- +goose Down
DROP INDEX users_banned;
