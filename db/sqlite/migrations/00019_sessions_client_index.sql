-- +goose Up
-- Deleting a client (keel clients delete, the prune-clients job) and
-- withdrawing consent end the client's sessions: found by this index rather
-- than a scan of every session. Only grants have a client_id.
CREATE INDEX sessions_client_id ON sessions (client_id) WHERE client_id IS NOT NULL;

-- +goose Down
DROP INDEX sessions_client_id;
