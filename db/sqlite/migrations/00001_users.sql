-- +goose Up
-- Emails are stored trimmed and lower-cased by the server; COLLATE NOCASE on the
-- unique index keeps them unique regardless of letter case even if a writer forgets.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT     NOT NULL,
    password_hash TEXT     NOT NULL,
    created_at    DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_email_unique ON users (email COLLATE NOCASE);

-- +goose Down
DROP TABLE users;
