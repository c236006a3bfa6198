package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// Register creates an account. The request validator has already checked the
// body against the spec.
func (s *Server) Register(ctx context.Context, req oapi.RegisterRequestObject) (oapi.RegisterResponseObject, error) {
	hash, err := s.passwords.hash(ctx, req.Body.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.store.CreateUser(ctx, normalizeEmail(string(req.Body.Email)), string(hash), s.now())
	if errors.Is(err, db.ErrEmailTaken) {
		return nil, errEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return oapi.Register201JSONResponse(toUser(u)), nil
}

// Login exchanges an email and password for a bearer token. An unknown email
// and a wrong password give the same answer in about the same time.
func (s *Server) Login(ctx context.Context, req oapi.LoginRequestObject) (oapi.LoginResponseObject, error) {
	creds, err := s.store.GetCredentials(ctx, normalizeEmail(string(req.Body.Email)))
	var hash []byte
	switch {
	case err == nil:
		hash = []byte(creds.PasswordHash)
	case !errors.Is(err, db.ErrNotFound):
		return nil, err
	}
	if err := s.passwords.check(ctx, hash, req.Body.Password); err != nil {
		return nil, err
	}
	token, err := s.tokens.issue(creds.UserID)
	if err != nil {
		return nil, err
	}
	return oapi.Login200JSONResponse{
		Token:     token,
		TokenType: oapi.Bearer,
		ExpiresIn: int64(s.cfg.JWTTTL.Seconds()),
	}, nil
}

// normalizeEmail is the one form of an email keel stores and looks up.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// bearerUser is the validator's check of the spec's bearerAuth scheme: it
// verifies the request's token and returns its user id.
func (s *Server) bearerUser(r *http.Request) (int64, error) {
	raw, ok := bearerToken(r.Header.Get(echo.HeaderAuthorization))
	if !ok {
		return 0, &authError{"a bearer token is required"}
	}
	id, err := s.tokens.verify(raw)
	if err != nil {
		return 0, &authError{"the bearer token is invalid or expired"}
	}
	return id, nil
}

// bearerToken takes the token from an Authorization header; the scheme name
// is case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

type userIDKey struct{}

func withUserID(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, userIDKey{}, id)
}

// userID is the id authenticate put in the context; ok is false on a route
// the spec does not protect.
func userID(ctx context.Context) (id int64, ok bool) {
	id, ok = ctx.Value(userIDKey{}).(int64)
	return id, ok
}
