package server

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keelhq/keel/gen/oapi"
)

// GetProfile returns the user the bearer token was issued to.
func (s *Server) GetProfile(ctx context.Context, _ oapi.GetProfileRequestObject) (oapi.GetProfileResponseObject, error) {
	id, ok := userID(ctx)
	if !ok {
		return nil, errors.New("profile reached without authentication")
	}
	row, err := s.store.Read.GetUser(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserGone
	}
	if err != nil {
		return nil, err
	}
	return oapi.GetProfile200JSONResponse(toUser(row.ID, row.Email, row.CreatedAt)), nil
}

// toUser is the API's view of a user row: never the password hash.
func toUser(id int64, email string, createdAt time.Time) oapi.User {
	return oapi.User{ID: id, Email: email, CreatedAt: createdAt.UTC()}
}
