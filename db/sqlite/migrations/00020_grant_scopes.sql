-- +goose Up
-- The scopes a grant (a session with a client_id) was given, fixed when it
-- starts: its refreshes and userinfo answer within them (RFC 6749 §6),
-- while op_consents, which a later sign-in to the same client may widen,
-- only spares the user the question. Space-separated; ends with the session.
CREATE TABLE op_grants (
    session_id TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL
);

-- +goose Down
DROP TABLE op_grants;
