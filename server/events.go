package server

// Events (issue 26): what handlers record of the changes they make, with
// who made them and from where. The store writes them (db.Events), in the
// change's transaction; this file only gathers what the request knows.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
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
// of changes (any operation but reads: GET and HEAD, except the provider's
// callback, a GET that may create an account) the request's address and
// User-Agent, which strict handlers do not see otherwise. The generated
// strict handler applies its middlewares on every request, so for a read
// (GET /profile among them), which records nothing, it returns the handler
// itself: no closure, no allocation, nothing added to the request.
func keepRequestInfo(reads map[string]bool) oapi.StrictMiddlewareFunc {
	return func(f oapi.StrictHandlerFunc, operationID string) oapi.StrictHandlerFunc {
		if reads[operationID] {
			return f
		}
		return func(c echo.Context, req any) (any, error) {
			r := c.Request()
			ua := strings.ToValidUTF8(r.UserAgent(), "")
			if len(ua) > maxUserAgent {
				ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
			}
			info := requestInfo{ip: c.RealIP(), userAgent: ua}
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
			return f(c, req)
		}
	}
}

// readsOf are the operations that read only, by the name the generated
// strict handler gives its middlewares (the operationId, capitalised):
// every GET and HEAD but the provider's callback.
func readsOf(ops validate.Operations) map[string]bool {
	reads := map[string]bool{}
	for k, op := range ops {
		if (k.Method == http.MethodGet || k.Method == http.MethodHead) && op.ID != "oauthCallback" && op.ID != "" {
			reads[strings.ToUpper(op.ID[:1])+op.ID[1:]] = true
		}
	}
	return reads
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

// inOrder is one after hook that runs hooks in order, in the change's
// transaction, stopping at the first error (which rolls it all back).
func inOrder(hooks ...func(*sql.Tx) error) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		for _, h := range hooks {
			if err := h(tx); err != nil {
				return err
			}
		}
		return nil
	}
}

// The data of the events the account's own flows write (docs/admin.md
// lists each type with its fields): never a secret, a password, a code or a
// token.
type (
	createdData struct {
		Method   string `json:"method"` // register|provider
		Provider string `json:"provider,omitempty"`
	}
	signInData struct {
		Method   string `json:"method"` // password|passkey|provider|totp|recovery
		Session  string `json:"session,omitempty"`
		AAL      string `json:"aal,omitempty"`
		Provider string `json:"provider,omitempty"`
	}
	signInFailedData struct {
		Method string `json:"method"`
		Reason string `json:"reason"`
	}
	sessionEndedData struct {
		Why     string `json:"why"`
		Session string `json:"session,omitempty"` // empty with All
		All     bool   `json:"all,omitempty"`
		// Except is the one session All spared: the one that changed the
		// password (why password).
		Except string `json:"except,omitempty"`
	}
	passkeyData struct {
		ID   string `json:"passkey"`
		Name string `json:"name,omitempty"`
	}
	factorData struct {
		ID   string `json:"factor"`
		Kind string `json:"kind"`
	}
	identityData struct {
		ID       int64  `json:"identity,omitempty"`
		Provider string `json:"provider,omitempty"`
		By       string `json:"by,omitempty"` // "email": linked by its verified address at sign-in
	}
)

// The reasons of signin.failed.
const (
	failedWrongPassword = "wrong_password"
	failedUnknownEmail  = "unknown_email"
	failedNoPassword    = "no_password" // an account made by a provider sign-in
	failedStale         = "password_changed"
	failedWrongCode     = "wrong_code"
	failedLocked        = "locked"
	failedRefused       = "refused" // a passkey assertion that does not verify
)

// signInMethod is the method of a sign-in that started a session with the
// authentication methods amr (newSignIn's).
func signInMethod(amr string) string {
	switch first, _, _ := strings.Cut(amr, " "); first {
	case "", amrPassword:
		return "password"
	case amrProvider:
		return "provider"
	default: // hwk, swk
		return "passkey"
	}
}

// recordSignIn is the after hook of a sign-in's session (its event,
// signin.succeeded, in the transaction that stores it).
func (s *Server) recordSignIn(ctx context.Context, sess db.Session, method, provider string) func(*sql.Tx) error {
	return s.recordTx(ctx, s.event(ctx, db.EventSignInSucceeded, sess.UserID,
		signInData{Method: method, Session: sess.ID, AAL: cmp.Or(sess.AAL, db.AAL1), Provider: provider}))
}

// Failed sign-ins change nothing, so no transaction holds their events:
// each is written on its own, best-effort (lost if keel crashes first, or
// if the database refuses it: logged, and the answer is the refusal all
// the same). A flood of them must not become a flood of writes: every one
// has passed the request's rate limit first (AUTH_RATE_LIMIT per address;
// TOTP and recovery codes five a minute per account, whose 429s write
// nothing), and a password's also a bcrypt comparison, so the database
// sees at most one small insert per costly attempt; and past
// failedSignInsPerSecond a second in this process (a botnet spread over
// many addresses, or the rate limit turned off) they are counted in
// keel_events_dropped_total instead of written.
const (
	failedSignInsPerSecond = 50
	failedSignInsBurst     = 200
)

// signInFailed records a failed sign-in of the account userID (0 when no
// account is known, as for an unknown email) by method, for reason: never
// what was presented. Its actor is the signed-in user when a session
// presents it (a second factor), else anonymous: whoever tried is not
// known to be the account's owner.
func (s *Server) signInFailed(ctx context.Context, userID int64, method, reason string) {
	if !s.failedSignIns.Allow() {
		s.metrics.eventsDropped.Inc()
		return
	}
	e := s.event(ctx, db.EventSignInFailed, userID, signInFailedData{Method: method, Reason: reason})
	if _, signedIn := ctx.Value(principalKey{}).(token.Principal); !signedIn {
		e.Actor = db.ActorAnonymous
	}
	// Written even when the client has gone: the attempt happened.
	if err := s.store.RecordEvent(context.WithoutCancel(ctx), e); err != nil {
		s.metrics.eventsDropped.Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "a failed sign-in was not recorded", slog.String("method", method), slog.Any("err", err))
	}
}

// reused is the after hook of the ending of session sid, of the user
// userID, whose spent refresh token was presented again
// (session.refresh_reused: the one event of that ending). Its actor is
// anonymous: a thief or the owner, nobody can tell which.
func (s *Server) reused(ctx context.Context, userID int64, sid string) func(*sql.Tx) error {
	e := s.event(ctx, db.EventSessionRefreshReused, userID, sessionEndedData{Why: "reuse", Session: sid})
	e.Actor = db.ActorAnonymous
	return s.recordTx(ctx, e)
}

// loggedOut is the after hook of the user's ending of their session sid,
// or of all of them when sid is "" (session.ended, why logout).
func (s *Server) loggedOut(ctx context.Context, userID int64, sid string) func(*sql.Tx) error {
	return s.recordTx(ctx, s.event(ctx, db.EventSessionEnded, userID, sessionEndedData{Why: "logout", Session: sid, All: sid == ""}))
}
