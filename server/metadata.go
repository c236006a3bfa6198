package server

// An account's metadata: user_metadata, the user's own (PATCH /profile),
// and app_metadata, the operator's (the admin API). Both are JSON objects
// kept as their compact text, at most db.MaxMetadataBytes.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/claims"
)

// metadata is a metadata object of a request (the validator has checked it
// is a JSON object) as the compact text the store keeps, or a 400 naming
// field when that is over db.MaxMetadataBytes.
func metadata(raw json.RawMessage, field string) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", &Error{Status: http.StatusBadRequest, Field: field, Detail: "must be a JSON object"}
	}
	if b.Len() > db.MaxMetadataBytes {
		return "", &Error{Status: http.StatusBadRequest, Field: field,
			Detail: "must be at most " + strconv.Itoa(db.MaxMetadataBytes) + " bytes as compact JSON"}
	}
	return b.String(), nil
}

// metadataOf is stored metadata for a response: {} when the read left it out.
func metadataOf(stored string) json.RawMessage {
	if stored == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(stored)
}

// changedFields names the fields of an account a change made different,
// in the order of the API's schema: what a user.updated event says (never
// their values, which may be secrets of the app's).
func changedFields(before, after db.User) []string {
	var fields []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"email", before.Email != after.Email},
		{"email_verified", before.EmailVerified != after.EmailVerified},
		{"app_metadata", before.AppMetadata != after.AppMetadata},
		{"user_metadata", before.UserMetadata != after.UserMetadata},
	} {
		if f.changed {
			fields = append(fields, f.name)
		}
	}
	return fields
}

// recordUpdate is UpdateUser's after hook: a user.updated event naming the
// fields that changed, in the change's transaction; nothing when none did.
func (s *Server) recordUpdate(ctx context.Context) func(*sql.Tx, db.User, db.User) error {
	return func(tx *sql.Tx, before, after db.User) error {
		fields := changedFields(before, after)
		if len(fields) == 0 {
			return nil
		}
		return s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventUserUpdated, after.ID, map[string]any{"fields": fields}))
	}
}

// appMetadata is a request's app_metadata as metadata keeps it, with the
// rules of what tokens carry of it (internal/claims: roles, the listed
// claims' size) checked where it is written: a 400 naming the field.
func (s *Server) appMetadata(raw json.RawMessage) (string, error) {
	meta, err := metadata(raw, "/app_metadata")
	if err != nil {
		return "", err
	}
	var ce *claims.Error
	if err := s.cfg.AppMetadataClaims.Validate([]byte(meta)); errors.As(err, &ce) {
		return "", &Error{Status: http.StatusBadRequest, Field: "/app_metadata" + ce.Field, Detail: ce.Reason}
	} else if err != nil {
		return "", err
	}
	return meta, nil
}
