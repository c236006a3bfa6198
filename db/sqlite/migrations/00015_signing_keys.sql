-- +goose Up
-- The keys keel signs access tokens with (internal/keys). A key goes next
-- (published, not yet signing) → current (signs) → retired (published until
-- its last token expires), or revoked (withdrawn). public_key is PKIX DER;
-- sealed_key is the private key sealed under KEYS_KEK (AES-GCM), so the
-- database alone signs nothing. activated_at and retired_at are NULL until
-- the key becomes current and stops being so.
CREATE TABLE signing_keys (
    id           TEXT     PRIMARY KEY,
    alg          TEXT     NOT NULL CHECK (alg IN ('EdDSA', 'ES256', 'RS256')),
    state        TEXT     NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
    public_key   BLOB     NOT NULL,
    sealed_key   BLOB     NOT NULL,
    created_at   DATETIME NOT NULL,
    activated_at DATETIME,
    retired_at   DATETIME
);
-- At most one current key per algorithm, whatever a plan says.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';

-- The set's version, one row: every change to signing_keys increases it in
-- the same transaction, and every process reads it each second, so a change
-- made by another process (the CLI) is heard of.
CREATE TABLE signing_key_set (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO signing_key_set (id, version) VALUES (1, 0);

-- +goose Down
DROP TABLE signing_key_set;
DROP TABLE signing_keys;
