-- +goose Up
-- Login now looks emails up with COLLATE NOCASE (as PostgreSQL does with
-- lower(email)), which users_email_unique serves; the binary-collation index
-- of 00002 served the old lookup only, and every insert still paid for it.
DROP INDEX users_email_lookup;

-- +goose Down
CREATE UNIQUE INDEX users_email_lookup ON users (email);
