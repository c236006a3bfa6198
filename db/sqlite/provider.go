package sqlite

// The OpenID Provider's state (provider.Store): authorization requests, their
// codes and consents. Written once, here, and twinned to
// db/postgres/provider_gen.go by db/twin; the rules are internal/provider's.

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/provider"
)

var _ provider.Store = (*DB)(nil)

// CreateAuthRequest implements provider.Store.
func (d *DB) CreateAuthRequest(ctx context.Context, r provider.AuthRequest) error {
	return d.write.CreateAuthRequest(ctx, gen.CreateAuthRequestParams{
		ID: r.ID, ClientID: r.ClientID, RedirectUri: r.RedirectURI, Scopes: strings.Join(r.Scopes, " "),
		State: r.State, Nonce: r.Nonce, ResponseType: r.ResponseType, ResponseMode: r.ResponseMode,
		CodeChallenge: r.CodeChallenge, MaxAge: sql.NullInt64{Int64: r.MaxAge, Valid: r.MaxAge >= 0},
		Prompt: strings.Join(r.Prompt, " "), AcrValues: strings.Join(r.ACRValues, " "), Resource: r.Resource,
		CreatedAt: db.Millis(r.CreatedAt), ExpiresAt: db.Millis(r.ExpiresAt),
	})
}

// GetAuthRequest implements provider.Store.
func (d *DB) GetAuthRequest(ctx context.Context, id string) (provider.AuthRequest, error) {
	row, err := d.read.GetAuthRequest(ctx, id)
	if err != nil {
		return provider.AuthRequest{}, translate(err, provider.ErrNoRequest)
	}
	return toAuthRequest(gen.GetAuthRequestByCodeRow(row)), nil
}

// AuthRequestByCode implements provider.Store.
func (d *DB) AuthRequestByCode(ctx context.Context, codeHash string) (provider.AuthRequest, error) {
	row, err := d.read.GetAuthRequestByCode(ctx, sql.NullString{String: codeHash, Valid: true})
	if err != nil {
		return provider.AuthRequest{}, translate(err, provider.ErrNoRequest)
	}
	return toAuthRequest(row), nil
}

func toAuthRequest(r gen.GetAuthRequestByCodeRow) provider.AuthRequest {
	maxAge := int64(-1)
	if r.MaxAge.Valid {
		maxAge = r.MaxAge.Int64
	}
	return provider.AuthRequest{
		ID: r.ID, ClientID: r.ClientID, RedirectURI: r.RedirectUri, Scopes: words(r.Scopes),
		State: r.State, Nonce: r.Nonce, ResponseType: r.ResponseType, ResponseMode: r.ResponseMode,
		CodeChallenge: r.CodeChallenge, MaxAge: maxAge, Prompt: words(r.Prompt),
		ACRValues: words(r.AcrValues), Resource: r.Resource,
		UserID: r.UserID.Int64, SessionID: r.SessionID.String, AuthTime: timeOrZero(r.AuthTime),
		AMR: r.Amr, ACR: r.Acr, Done: r.Done,
		CodeExpiresAt: timeOrZero(r.CodeExpiresAt), CodeUsed: r.CodeUsed,
		CreatedAt: db.Millis(r.CreatedAt), ExpiresAt: db.Millis(r.ExpiresAt),
	}
}

// AcceptAuthRequest implements provider.Store: the request is marked first,
// so a second accept (or an expired request) rolls back before a session
// starts.
func (d *DB) AcceptAuthRequest(ctx context.Context, id string, sess db.Session, acr string, now time.Time) error {
	return d.startGrant(ctx, sess, func(q *gen.Queries) error {
		n, err := q.AcceptAuthRequest(ctx, gen.AcceptAuthRequestParams{
			UserID: sql.NullInt64{Int64: sess.UserID, Valid: true}, SessionID: sql.NullString{String: sess.ID, Valid: true},
			AuthTime: nullTime(sess.AuthTime), Amr: sess.AMR, Acr: acr, ID: id, Now: db.Millis(now),
		})
		return oneRow(n, err, provider.ErrNoRequest)
	}, func(q *gen.Queries) error { return q.SaveRequestGrantScopes(ctx, id) })
}

// startGrant runs mark, which records the grant's session in what it
// answers (an authorization request, a device code), then starts the
// session sess, then runs scopes, which gives the grant the scopes of what
// it answers (op_grants), in one transaction: mark's error rolls back
// before a session starts.
func (d *DB) startGrant(ctx context.Context, sess db.Session, mark, scopes func(q *gen.Queries) error) error {
	var ended []db.SessionsEnded
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		if err := mark(q); err != nil {
			return err
		}
		var err error
		if ended, err = d.createSession(ctx, tx, q, sess); err != nil {
			return err
		}
		return scopes(q)
	})
	if err == nil {
		for _, e := range ended {
			d.announced(e)
		}
	}
	return err
}

// SaveAuthCode implements provider.Store.
func (d *DB) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, keepUntil time.Time) error {
	n, err := d.write.SaveAuthCode(ctx, gen.SaveAuthCodeParams{
		ID: id, CodeHash: sql.NullString{String: codeHash, Valid: true}, CodeExpiresAt: nullTime(expiresAt),
		KeepUntil: db.Millis(keepUntil)})
	return oneRow(n, err, provider.ErrNoRequest)
}

// SpendAuthCode implements provider.Store.
func (d *DB) SpendAuthCode(ctx context.Context, id string) error {
	n, err := d.write.SpendAuthCode(ctx, id)
	if err == nil && n == 0 {
		if _, err := d.read.GetAuthRequest(ctx, id); err != nil {
			return translate(err, provider.ErrNoRequest)
		}
		return provider.ErrCodeSpent
	}
	return err
}

// DeleteAuthRequest implements provider.Store.
func (d *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	return d.write.DeleteAuthRequest(ctx, id)
}

// PruneAuthRequests implements provider.Store.
func (d *DB) PruneAuthRequests(ctx context.Context, now time.Time) (int64, error) {
	return d.write.PruneAuthRequests(ctx, db.Millis(now))
}

// GrantScopes implements provider.Store.
func (d *DB) GrantScopes(ctx context.Context, sessionID string) ([]string, error) {
	scopes, err := d.read.GetGrantScopes(ctx, sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return words(scopes), err
}

// Consent implements provider.Store.
func (d *DB) Consent(ctx context.Context, userID int64, clientID string) ([]string, error) {
	scopes, err := d.read.GetConsent(ctx, gen.GetConsentParams{UserID: userID, ClientID: clientID})
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	return words(scopes), nil
}

// SaveConsent implements provider.Store.
func (d *DB) SaveConsent(ctx context.Context, userID int64, clientID string, scopes []string, at time.Time) error {
	return d.write.SaveConsent(ctx, gen.SaveConsentParams{
		UserID: userID, ClientID: clientID, Scopes: strings.Join(scopes, " "), CreatedAt: db.Millis(at)})
}

// words splits a space-separated column; none is nil.
func words(s string) []string {
	if w := strings.Fields(s); len(w) > 0 {
		return w
	}
	return nil
}

// ListConsents implements provider.Store.
func (d *DB) ListConsents(ctx context.Context, userID int64) ([]provider.Consent, error) {
	rows, err := d.read.ListConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Consent, len(rows))
	for i, r := range rows {
		out[i] = provider.Consent{ClientID: r.ClientID, Scopes: words(r.Scopes), CreatedAt: db.Millis(r.CreatedAt)}
	}
	return out, nil
}

// WithdrawConsent implements provider.Store.
func (d *DB) WithdrawConsent(ctx context.Context, userID int64, clientID string) error {
	return d.ending(ctx, func(_ *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		n, err := q.DeleteConsent(ctx, gen.DeleteConsentParams{UserID: userID, ClientID: clientID})
		if err := oneRow(n, err, provider.ErrNoConsent); err != nil {
			return db.SessionsEnded{}, err
		}
		ids, err := q.DeleteUserClientSessions(ctx, gen.DeleteUserClientSessionsParams{
			UserID: userID, ClientID: sql.NullString{String: clientID, Valid: true}})
		if err != nil || len(ids) == 0 {
			return db.SessionsEnded{}, err
		}
		return db.SessionsEnded{UserID: userID, Sessions: ids}, nil
	})
}
