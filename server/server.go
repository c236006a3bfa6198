// Package server is keel's hand-written code: it implements the strict server
// interface generated from api/openapi.yaml, and adds what no generator can:
// JWT auth, password hashing, the scheduled job, the WebSocket greeting, the
// mapping of errors to problem+json, request logging and the wiring of it all
// onto one Echo router.
package server

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// Server is keel's API. It satisfies the generated strict interface; its
// methods are thin converters between the generated request and response
// types and the generated queries.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     db.Store
	passwords *passwords
	tokens    *tokens
	metrics   *metrics
	now       func() time.Time
	// river inserts the jobs requests cause (emails); set by UseJobs.
	river *river.Client[*sql.Tx]
	// emailLimit limits POST /password/forgot per address; nil when
	// AUTH_RATE_LIMIT is 0.
	emailLimit authLimiter

	// sockets are the held WebSockets, which Close says goodbye to.
	sockets socketSet

	echo *echo.Echo
	// ops is the spec's operations, read once (operations.go); allow each
	// route's methods, from the same table.
	ops   map[opKey]*operation
	allow map[string]string
}

var _ oapi.StrictServerInterface = (*Server)(nil)

// Options are the parts of a Server that tests replace.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New builds the API over an open store (db/sqlite or db/postgres).
// cfg.JWTSecret must be set (see LoadSecret).
func New(cfg Config, log *slog.Logger, store db.Store, opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		store:     store,
		passwords: newPasswords(cfg.BcryptCost, cfg.HashWorkers, cfg.HashQueue),
		tokens:    newTokens(cfg.JWTSecret, cfg.JWTTTL, now),
		now:       now,
	}
	s.metrics = newMetrics(s.passwords.QueueDepth)
	s.emailLimit = s.newEmailLimiter()
	s.echo = s.routes()
	return s
}

// UseJobs gives the Server the job engine's client, through which requests
// insert the jobs they cause (in their own transaction where they change
// anything). Call it before serving: the engine is built after the Server
// because it registers its metrics on the Server's registry.
func (s *Server) UseJobs(c *river.Client[*sql.Tx]) { s.river = c }

func (s *Server) jobs() *river.Client[*sql.Tx] {
	if s.river == nil {
		panic("server: UseJobs was not called")
	}
	return s.river
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Close tells open WebSockets the server is going away (close code 1001) and
// waits for their close handshakes to finish, or for ctx to end. Call it after
// http.Server.Shutdown, which does not track hijacked connections.
func (s *Server) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.sockets.closeAll(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
