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
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    email      text        NOT NULL,
    trusted    boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- oauth_flows: a sign-in between keel's redirect to the provider and the
-- callback, kept here so that the callback may land on any replica. state is
-- stored as its SHA-256; nonce and verifier are needed as they are (to check
-- the ID token, to redeem the code). link_user_id is set when a signed-in
-- user links a provider. Taken (deleted) by the callback: one use.
CREATE TABLE oauth_flows (
    state_hash     text        PRIMARY KEY,
    provider       text        NOT NULL,
    nonce          text        NOT NULL,
    verifier       text        NOT NULL,
    code_challenge text        NOT NULL,
    redirect_to    text        NOT NULL,
    link_user_id   bigint      REFERENCES users (id) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL
);

-- oauth_codes: the one-time code the callback gives the app, as its SHA-256,
-- bound to the app's PKCE challenge. Taken (deleted) by POST /oauth/token.
-- A link flow's code carries the identity to link (link_subject not ''):
-- it is linked only when the app redeems the code with its verifier, so a
-- victim lured through someone else's link URL links nothing.
CREATE TABLE oauth_codes (
    hash                text        PRIMARY KEY,
    user_id             bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider            text        NOT NULL,
    code_challenge      text        NOT NULL,
    link_subject        text        NOT NULL DEFAULT '',
    link_email          text        NOT NULL DEFAULT '',
    link_email_verified boolean     NOT NULL DEFAULT false,
    expires_at          timestamptz NOT NULL
);

-- +goose Down
DROP TABLE oauth_codes;
DROP TABLE oauth_flows;
DROP TABLE identities;
