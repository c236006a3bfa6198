-- +goose Up
-- PostgreSQL's 00026 checks app_metadata, user_metadata and an event's data
-- as json rather than jsonb, to accept what json_valid accepts here: nothing
-- to change on SQLite. The number is kept in step with PostgreSQL's.
SELECT 1;

-- +goose Down
SELECT 1;
