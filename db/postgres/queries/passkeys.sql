-- name: CreatePasskeyCeremony :exec
INSERT INTO passkey_ceremonies (id, user_id, kind, session, expires_at)
VALUES (sqlc.arg(id), sqlc.narg(user_id), sqlc.arg(kind), sqlc.arg(session), sqlc.arg(expires_at));

-- name: TakePasskeyCeremony :one
-- Deleting is what makes a ceremony one-use: of two answers to one set of
-- options, on any replica, only one gets the row back.
DELETE FROM passkey_ceremonies WHERE id = sqlc.arg(id)
RETURNING user_id, kind, session, expires_at;

-- name: DeleteExpiredPasskeyCeremonies :execrows
DELETE FROM passkey_ceremonies WHERE expires_at <= sqlc.arg(now);

-- name: CreatePasskey :exec
INSERT INTO passkeys (id, user_id, credential_id, name, public_key, attestation_type, aaguid, transports,
                      sign_count, user_verified, backup_eligible, backup_state, created_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(credential_id), sqlc.arg(name), sqlc.arg(public_key),
        sqlc.arg(attestation_type), sqlc.arg(aaguid), sqlc.arg(transports), sqlc.arg(sign_count),
        sqlc.arg(user_verified), sqlc.arg(backup_eligible), sqlc.arg(backup_state), sqlc.arg(created_at));

-- name: ListPasskeys :many
SELECT * FROM passkeys WHERE user_id = sqlc.arg(user_id) ORDER BY created_at, id;

-- name: GetPasskeyByCredentialID :one
SELECT * FROM passkeys WHERE credential_id = sqlc.arg(credential_id);

-- name: UsePasskey :execrows
-- Compare-and-set of the signature counter: of two sign-ins that read one
-- count, only the first finds it unchanged.
UPDATE passkeys SET sign_count = sqlc.arg(sign_count), user_verified = sqlc.arg(user_verified),
       backup_state = sqlc.arg(backup_state), last_used_at = sqlc.arg(now)
WHERE id = sqlc.arg(id) AND sign_count = sqlc.arg(old_count) AND backup_eligible = sqlc.arg(backup_eligible);

-- name: RenamePasskey :execrows
UPDATE passkeys SET name = sqlc.arg(name) WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeletePasskey :execrows
DELETE FROM passkeys WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: CountPasskeyWaysIn :one
-- What the account can sign in with besides one passkey: its password (when
-- it has one), its identities and its other passkeys.
SELECT (SELECT count(*) FROM users u WHERE u.id = sqlc.arg(user_id) AND u.password_hash <> '')
     + (SELECT count(*) FROM identities i WHERE i.user_id = sqlc.arg(user_id))
     + (SELECT count(*) FROM passkeys p WHERE p.user_id = sqlc.arg(user_id) AND p.id <> sqlc.arg(id))
     AS ways;

-- name: DeleteSessionsByPasskey :many
-- The sessions a removed passkey started end with it.
DELETE FROM sessions WHERE user_id = sqlc.arg(user_id) AND passkey_id = sqlc.arg(passkey_id)
RETURNING id;
