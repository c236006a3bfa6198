-- +goose Up
-- The operator's side (issue 26). An account's role is its own column, not a
-- key of app_metadata, so no metadata write (an import, an admin's PATCH)
-- can make an admin; admin requests read it on every call. app_metadata is
-- what the operator keeps about a user (written only through the admin
-- API), user_metadata what the user keeps (PATCH /profile): JSON objects.
-- A ban is banned_at (NULL: none) until banned_until (NULL: until lifted).
-- external_id names an imported account in the system it came from, which
-- makes an import idempotent.
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN app_metadata text NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(app_metadata::jsonb) = 'object');
ALTER TABLE users ADD COLUMN user_metadata text NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(user_metadata::jsonb) = 'object');
ALTER TABLE users ADD COLUMN banned_at timestamptz;
ALTER TABLE users ADD COLUMN banned_until timestamptz;
ALTER TABLE users ADD COLUMN ban_reason text;
ALTER TABLE users ADD COLUMN external_id text;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_role ON users (role, id) WHERE role <> 'user';

-- One record of what happened to accounts: the audit trail, the owner's
-- notification mails and webhooks all read it. Written in the transaction
-- of the change it records (failed sign-ins, which change nothing, on their
-- own). No foreign key to users: an account's events outlive it. Never
-- updated; deleted only by the retention job (AUDIT_RETENTION).
CREATE TABLE events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type       text        NOT NULL,
    created_at timestamptz NOT NULL,
    user_id    bigint,
    actor      text        NOT NULL,
    ip         text        NOT NULL DEFAULT '',
    user_agent text        NOT NULL DEFAULT '',
    data       text        NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data::jsonb) = 'object')
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_actor ON events (actor, id);
CREATE INDEX events_created ON events (created_at);

-- +goose Down
DROP TABLE events;
DROP INDEX users_role;
DROP INDEX users_external_id;
ALTER TABLE users DROP COLUMN external_id;
ALTER TABLE users DROP COLUMN ban_reason;
ALTER TABLE users DROP COLUMN banned_until;
ALTER TABLE users DROP COLUMN banned_at;
ALTER TABLE users DROP COLUMN user_metadata;
ALTER TABLE users DROP COLUMN app_metadata;
ALTER TABLE users DROP COLUMN role;
