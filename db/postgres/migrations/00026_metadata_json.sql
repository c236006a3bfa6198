-- +goose Up
-- app_metadata, user_metadata and an event's data are JSON objects kept as
-- their text (migration 00021). They are checked as json, not jsonb: jsonb
-- refuses JSON that SQLite's json_valid, Go and the API accept (a \u0000
-- escape, a number below numeric's range such as 1e-1000000), which made a
-- client's PATCH /profile a 500 on PostgreSQL only. json checks the syntax
-- alone, as SQLite does; nothing reads these columns as jsonb.
ALTER TABLE users DROP CONSTRAINT users_app_metadata_check,
    ADD CONSTRAINT users_app_metadata_check CHECK (json_typeof(app_metadata::json) = 'object');
ALTER TABLE users DROP CONSTRAINT users_user_metadata_check,
    ADD CONSTRAINT users_user_metadata_check CHECK (json_typeof(user_metadata::json) = 'object');
ALTER TABLE events DROP CONSTRAINT events_data_check,
    ADD CONSTRAINT events_data_check CHECK (json_typeof(data::json) = 'object');

-- +goose Down
ALTER TABLE events DROP CONSTRAINT events_data_check,
    ADD CONSTRAINT events_data_check CHECK (jsonb_typeof(data::jsonb) = 'object');
ALTER TABLE users DROP CONSTRAINT users_user_metadata_check,
    ADD CONSTRAINT users_user_metadata_check CHECK (jsonb_typeof(user_metadata::jsonb) = 'object');
ALTER TABLE users DROP CONSTRAINT users_app_metadata_check,
    ADD CONSTRAINT users_app_metadata_check CHECK (jsonb_typeof(app_metadata::jsonb) = 'object');
