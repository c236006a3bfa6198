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
    device_hash  TEXT     PRIMARY KEY,
    user_hash    TEXT     NOT NULL UNIQUE,
    client_id    TEXT     NOT NULL,
    scopes       TEXT     NOT NULL,
    state        TEXT     NOT NULL DEFAULT 'pending',
    interval_ms  INTEGER  NOT NULL,
    last_poll_at DATETIME,
    user_id      INTEGER  REFERENCES users (id) ON DELETE CASCADE,
    session_id   TEXT,
    auth_time    DATETIME,
    amr          TEXT     NOT NULL DEFAULT '',
    acr          TEXT     NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL
);
CREATE INDEX op_device_codes_expires ON op_device_codes (expires_at);

-- +goose Down
DROP TABLE op_device_codes;
