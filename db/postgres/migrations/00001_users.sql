-- +goose Up
-- Emails are stored trimmed and lower-cased by the server; the unique index on
-- lower(email) keeps them unique regardless of letter case even if a writer
-- forgets, and serves the login lookup, which compares lower(email) too.
CREATE TABLE users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

-- +goose Down
DROP TABLE users;
