package server

import (
	"context"

	"github.com/keelhq/keel/gen/oapi"
)

// GetHealth answers that the process is up.
func (s *Server) GetHealth(context.Context, oapi.GetHealthRequestObject) (oapi.GetHealthResponseObject, error) {
	return oapi.GetHealth200JSONResponse{Status: oapi.Ok}, nil
}
