-- +goose Up
-- The keys keel signs access tokens with (internal/keys). A key goes next
-- (published, not yet signing) → current (signs) → retired (published until
-- its last token expires), or revoked (withdrawn). public_key is PKIX DER;
-- sealed_key is the private key sealed under KEYS_KEK (AES-GCM), so the
-- database alone signs nothing. activated_at and retired_at are NULL until
-- the key becomes current and stops being so.
CREATE TABLE signing_keys (
    id           text        PRIMARY KEY,
    alg          text        NOT NULL CHECK (alg IN ('EdDSA', 'ES256', 'RS256')),
    state        text        NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
    public_key   bytea       NOT NULL,
    sealed_key   bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    activated_at timestamptz,
    retired_at   timestamptz
);
-- At most one current key per algorithm, whatever a plan says.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';

-- The set's version, one row: every change to signing_keys increases it in
-- the same transaction, which locks this row first (SELECT ... FOR UPDATE),
-- so changes from every replica and CLI process run one after the other.
CREATE TABLE signing_key_set (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint  NOT NULL
);
INSERT INTO signing_key_set (id, version) VALUES (1, 0);

-- +goose Down
DROP TABLE signing_key_set;
DROP TABLE signing_keys;
