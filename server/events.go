package server

// Events (issue 26): what handlers record of the changes they make, with
// who made them and from where. The store writes them (db.Events), in the
// change's transaction; this file only gathers what the request knows.

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
)

// requestInfo is what an event and a new session keep of the request.
type requestInfo struct {
	ip, userAgent string
}

type requestInfoKey struct{}

// actorKey holds the actor of an admin request (db.ActorAdmin,
// db.ActorClient), set by the admin check; other requests act as their
// signed-in user.
type actorKey struct{}

// withActor returns ctx whose events name actor as who made them.
func withActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// keepRequestInfo is a strict-handler middleware that gives the handlers
// of changes (any method but GET and HEAD) the request's address and
// User-Agent, which strict handlers do not see otherwise. Reads (GET
// /profile among them) record nothing and skip it, allocating nothing.
func keepRequestInfo(f oapi.StrictHandlerFunc, _ string) oapi.StrictHandlerFunc {
	return func(c echo.Context, req any) (any, error) {
		r := c.Request()
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return f(c, req)
		}
		ua := strings.ToValidUTF8(r.UserAgent(), "")
		if len(ua) > maxUserAgent {
			ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
		}
		info := requestInfo{ip: c.RealIP(), userAgent: ua}
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
		return f(c, req)
	}
}

func userAgent(ctx context.Context) string {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return info.userAgent
}

// event is an event of type about userID (0: none) happening now, with
// data (marshalled to a JSON object; nil for none) and the request's actor,
// address and User-Agent.
func (s *Server) event(ctx context.Context, typ string, userID int64, data any) db.Event {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	e := db.Event{Type: typ, CreatedAt: s.now(), UserID: userID, IP: info.ip, UserAgent: info.userAgent}
	if data != nil {
		// A handler's own map or struct: it marshals, or it is a bug.
		b, err := json.Marshal(data)
		if err != nil {
			panic("event data: " + err.Error())
		}
		e.Data = b
	}
	switch actor, _ := ctx.Value(actorKey{}).(string); {
	case actor != "":
		e.Actor = actor
	default:
		if p, ok := ctx.Value(principalKey{}).(token.Principal); ok {
			e.Actor = db.ActorUser(p.UserID)
		} else if userID != 0 {
			e.Actor = db.ActorUser(userID) // a sign-in, a registration: the user's own doing
		} else {
			e.Actor = db.ActorAnonymous
		}
	}
	return e
}

// recordTx is a store method's after hook that records e in the change's
// transaction (its error rolls the change back).
func (s *Server) recordTx(ctx context.Context, e db.Event) func(*sql.Tx) error {
	return func(tx *sql.Tx) error { return s.store.RecordEventTx(ctx, tx, e) }
}
