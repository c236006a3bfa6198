-- +goose Up
-- A link is bound to the session that asked for it: the link flow records
-- the signed-in caller's session, the callback copies it into the link's
-- code, and POST /oauth/token links nothing unless that session still exists
-- (checked in LinkIdentity's transaction, after the user's row lock). A
-- password reset ends every session in the transaction that drops the
-- untrusted identities, so a squatter who took its link code just before
-- the owner's reset cannot link an identity that would survive it. NULL for
-- a sign-in, which has no session yet. No foreign key: nothing else refers
-- to sessions, every session deleted would pay for a lookup here, and these
-- rows live minutes; the check at redemption is the guarantee.
ALTER TABLE oauth_flows ADD COLUMN link_session_id TEXT;
ALTER TABLE oauth_codes ADD COLUMN link_session_id TEXT;

-- +goose Down
ALTER TABLE oauth_codes DROP COLUMN link_session_id;
ALTER TABLE oauth_flows DROP COLUMN link_session_id;
