package server

import (
	"context"
	"time"

	"github.com/keelhq/keel/gen/oapi"
)

// GetHealth answers that the process is up (the seed's health route).
func (s *Server) GetHealth(context.Context, oapi.GetHealthRequestObject) (oapi.GetHealthResponseObject, error) {
	return oapi.GetHealth200JSONResponse{Status: oapi.Ok}, nil
}

// GetLiveness answers while the process serves; it never touches the database,
// so a slow disk does not get a healthy process restarted.
func (s *Server) GetLiveness(context.Context, oapi.GetLivenessRequestObject) (oapi.GetLivenessResponseObject, error) {
	return oapi.GetLiveness200JSONResponse{Status: oapi.Ok}, nil
}

// readyTimeout bounds the readiness query.
const readyTimeout = time.Second

// GetReadiness answers 200 while the database answers a query, else 503.
func (s *Server) GetReadiness(ctx context.Context, _ oapi.GetReadinessRequestObject) (oapi.GetReadinessResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: the database does not answer", "err", err)
		return nil, errNotReady
	}
	return oapi.GetReadiness200JSONResponse{Status: oapi.Ok}, nil
}
