-- +goose Up
-- The places of sessions' sockets, shared by every replica, so that a
-- session holds at most ws.MaxPerSession sockets in the whole cluster. A
-- place is a lease its replica renews; one past expires_at (its replica
-- died without giving it back) no longer counts. Places go with their
-- session.
CREATE TABLE ws_sockets (
    id         text        PRIMARY KEY,
    session_id text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    replica    text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX ws_sockets_session ON ws_sockets (session_id);

-- +goose Down
DROP TABLE ws_sockets;
