-- +goose Up
-- The device authorization grant (RFC 8628; internal/provider/device.go).
--
-- One row a device code, from /oauth2/device_authorization until its tokens
-- are issued (the row is then deleted: the code works once) or it expires
-- (pruned). Both codes are stored as their SHA-256 only; the user code
-- normalised first (upper case, no dashes). state is pending, approved or
-- denied; once approved, user_id and session_id are the user who approved
-- and the grant's session (a keel session for the client), auth_time, amr
-- and acr what that user's sign-in proved. last_poll_at and interval_ms pace
-- the device's polling: a poll sooner than interval_ms after the last is
-- answered slow_down and the interval grows by 5 s (RFC 8628 §3.5).
CREATE TABLE op_device_codes (
    device_hash  text     PRIMARY KEY,
    user_hash    text     NOT NULL UNIQUE,
    client_id    text     NOT NULL,
    scopes       text     NOT NULL,
    state        text     NOT NULL DEFAULT 'pending',
    interval_ms  bigint   NOT NULL,
    last_poll_at timestamptz,
    user_id      bigint   REFERENCES users (id) ON DELETE CASCADE,
    session_id   text,
    auth_time    timestamptz,
    amr          text     NOT NULL DEFAULT '',
    acr          text     NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX op_device_codes_expires ON op_device_codes (expires_at);

-- +goose Down
DROP TABLE op_device_codes;
