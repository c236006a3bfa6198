-- +goose Up
-- A provider sign-in's method was "fed", a value RFC 8176 does not register
-- (and a later registration could give another meaning); keel's own is now
-- the URI urn:keel:amr:fed. Live sessions carry it from their next token.
UPDATE sessions SET amr = 'urn:keel:amr:fed' WHERE amr = 'fed';

-- +goose Down
UPDATE sessions SET amr = 'fed' WHERE amr = 'urn:keel:amr:fed';
