-- +goose Up
-- Sign-in with OpenID Connect providers. An account may have no password
-- (password_hash is then ''): it was created by a provider sign-in, and sets
-- one through the reset mail.
--
-- identities: a provider account, (provider, subject), linked to a user.
-- trusted is false only for an identity that created its account with an
-- email its provider had not verified: nobody has proved that address, so
-- whoever proves it later (a password reset, a provider that verified it)
-- drops such identities, and the person who squatted the address with them
-- loses the account (pre-account hijacking).
CREATE TABLE identities (
    id         INTEGER     PRIMARY KEY,
    user_id    INTEGER     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    email      TEXT        NOT NULL,
    trusted    BOOLEAN     NOT NULL,
    created_at DATETIME    NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- oauth_flows: a sign-in between keel's redirect to the provider and the
-- callback, kept here so that the callback may land on any replica. state is
-- stored as its SHA-256; nonce and verifier are needed as they are (to check
-- the ID token, to redeem the code). link_user_id is set when a signed-in
-- user links a provider. Taken (deleted) by the callback: one use.
CREATE TABLE oauth_flows (
    state_hash     TEXT        PRIMARY KEY,
    provider       TEXT        NOT NULL,
    nonce          TEXT        NOT NULL,
    verifier       TEXT        NOT NULL,
    code_challenge TEXT        NOT NULL,
    redirect_to    TEXT        NOT NULL,
    link_user_id   INTEGER     REFERENCES users (id) ON DELETE CASCADE,
    expires_at     DATETIME    NOT NULL
);

-- oauth_codes: the one-time code the callback gives the app, as its SHA-256,
-- bound to the app's PKCE challenge. Taken (deleted) by POST /oauth/token.
-- A link flow's code carries the identity to link (link_subject not ''):
-- it is linked only when the app redeems the code with its verifier, so a
-- victim lured through someone else's link URL links nothing.
CREATE TABLE oauth_codes (
    hash                TEXT        PRIMARY KEY,
    user_id             INTEGER     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider            TEXT        NOT NULL,
    code_challenge      TEXT        NOT NULL,
    link_subject        TEXT        NOT NULL DEFAULT '',
    link_email          TEXT        NOT NULL DEFAULT '',
    link_email_verified BOOLEAN     NOT NULL DEFAULT FALSE,
    expires_at          DATETIME    NOT NULL
);

-- +goose Down
DROP TABLE oauth_codes;
DROP TABLE oauth_flows;
DROP TABLE identities;
