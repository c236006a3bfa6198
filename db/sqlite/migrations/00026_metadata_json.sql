-- +goose Up
-- PostgreSQL's 00026 checks app_metadata, user_metadata and an event's data
-- as json rather than jsonb, to accept what json_valid accepts here: nothing
-- to change on SQLite for that.
--
-- An account's id is never given again (PostgreSQL's identity never goes
-- back): relying parties keep it as the ID token's sub, which OpenID
-- Connect says is never reassigned, and events about it outlive it. SQLite
-- gives a new row the largest id plus one, so deleting the account of the
-- largest id gave its id to the next one. users_id_floor keeps the largest
-- id ever deleted (the trigger), and every insert of an account without an
-- id takes one past both it and the largest id there (queries/users.sql,
-- user_changes.sql, transfer.sql). The floor starts past every id an event
-- names, the accounts deleted before this migration.
CREATE TABLE users_id_floor (floor INTEGER NOT NULL);
INSERT INTO users_id_floor (floor) SELECT coalesce(max(user_id), 0) FROM events;
-- +goose StatementBegin
CREATE TRIGGER users_id_floor AFTER DELETE ON users
BEGIN
    UPDATE users_id_floor SET floor = max(floor, OLD.id);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER users_id_floor;
DROP TABLE users_id_floor;
