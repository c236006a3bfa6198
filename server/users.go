package server

import (
	"context"
	"errors"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// GetProfile returns the user the bearer token was issued to.
func (s *Server) GetProfile(ctx context.Context, _ oapi.GetProfileRequestObject) (oapi.GetProfileResponseObject, error) {
	id, ok := userID(ctx)
	if !ok {
		return nil, errors.New("profile reached without authentication")
	}
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, errUserGone
	}
	if err != nil {
		return nil, err
	}
	return oapi.GetProfile200JSONResponse(toUser(u)), nil
}

// toUser is the API's view of a user: never the password hash.
func toUser(u db.User) oapi.User {
	return oapi.User{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt.UTC()}
}
