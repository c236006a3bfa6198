package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/ws"
)

// greeting is the first message an anonymous WebSocket client receives; an
// authenticated one gets userGreeting.
const greeting = "Hello from keel WebSocket"

// userGreeting is the first message of a socket opened with a token: it
// names the user (by email), so the client sees whom the socket speaks for.
func userGreeting(email string) string { return "Hello " + email + " from keel WebSocket" }

// openWebSocket upgrades GET /ws and sends the greeting, then hands the
// socket to a goroutine of its own (ws.Registry.Hold) and returns, so that
// neither the HTTP request (its goroutine, buffers, Echo context, middleware
// state) nor its log line stays alive while the socket is held. Handshake
// errors are checked first so that they are problem+json like every other
// error. A handshake with an access token (ws.BearerToken) opens a socket
// owned by the token's session (openOwnedWebSocket).
func (s *Server) openWebSocket(c echo.Context) error {
	r := c.Request()
	if err := ws.CheckHandshake(r, c.Response().Header()); err != nil {
		return err
	}
	if tok, ok := ws.BearerToken(r.Header); ok {
		return s.openOwnedWebSocket(c, tok)
	}
	conn, err := ws.Accept(c.Response(), r)
	if err != nil {
		return nil // Accept has answered the client; the handshake is over.
	}
	// Counted before the greeting, so a client that has it sees itself in
	// keel_websockets_open.
	held := s.sockets.Add(conn)
	s.holdWebSocket(conn, held, greeting, nil, func() {})
	return nil
}

// openOwnedWebSocket checks the token and its session before the upgrade
// (401 otherwise, as any bearer operation), then holds a socket that closes
// when the session ends (live.go) or the token expires, unless the client
// renews it (renewWebSocket). The token expires at its exp, without the
// leeway HTTP requests get: a token already past it is refused, since its
// socket would close at once.
func (s *Server) openOwnedWebSocket(c echo.Context, tok string) error {
	r := c.Request()
	p, exp, err := s.tokens.VerifyUntil(tok)
	ttl := exp.Sub(s.now())
	if err != nil || ttl <= 0 {
		return errBadBearer
	}
	// Read before the session check: an ending between the check and
	// AddOwned would reach no socket, and AddOwned says whether one came.
	since := s.sockets.Endings()
	acc, err := s.store.GetSessionAccess(r.Context(), p.SessionID, p.UserID)
	if err != nil {
		return err // db.ErrNoSession: 401, the session has ended
	}
	if err := checkLevel(p, acc); err != nil {
		return err
	}
	// The assurance rule of every bearer operation: an aal1 session of an
	// account with a second factor gets no socket until it verifies it.
	if err := checkAssurance(acc, "openWebSocket", s.now(), s.reauthMaxAge()); err != nil {
		return err
	}
	user := acc.User
	// This replica's count first, which costs no query; then the cluster's.
	if !s.sockets.Reserve(p.SessionID) {
		return errTooManySockets
	}
	place, err := s.takeSocketPlace(r.Context(), p.SessionID)
	if err != nil || place == "" {
		s.sockets.Unreserve(p.SessionID)
		if err != nil {
			return err // db.ErrNoSession: 401, the session has just ended
		}
		return errTooManySockets
	}
	release := func() { s.giveBackSocketPlace(place) }
	conn, err := ws.Accept(c.Response(), r, ws.BearerProtocol)
	if err != nil {
		s.sockets.Unreserve(p.SessionID)
		release()
		return nil
	}
	kid := s.tokens.KeyID(tok)
	held, missed := s.sockets.AddOwned(conn, p.UserID, p.SessionID, kid, acc.AAL == db.AAL2, ttl, since)
	if !held {
		s.sockets.Unreserve(p.SessionID)
	}
	s.holdWebSocket(conn, held, userGreeting(user.Email), s.renewWebSocket, release)
	if kid != "" && s.keys != nil && !s.keys.Published(kid) {
		// Revoked since the token was checked, before the socket could be
		// found by the revocation's EndKeys.
		s.sockets.EndKeys(s.keys.Published)
	}
	if missed {
		// Rare: ask again, now that an ending or a new factor would find
		// the socket.
		acc, err := s.store.GetSessionAccess(context.WithoutCancel(r.Context()), p.SessionID, p.UserID)
		switch {
		case errors.Is(err, db.ErrNoSession):
			s.sockets.EndSessions(p.UserID, func(id string) bool { return id == p.SessionID })
		case err == nil && pending(acc.AAL, acc.HasFactor):
			s.sockets.RequireFactor(p.UserID, "", nil)
		}
	}
	return nil
}

// holdWebSocket counts a registered socket (held) and greets it, then holds
// it on a goroutine of its own; a socket not held (Close has begun) hears
// 1001 at once, as the others do. release runs once the socket is done
// with (it gives back its place).
func (s *Server) holdWebSocket(conn *websocket.Conn, held bool, hello string, renew ws.Renew, release func()) {
	if held {
		s.metrics.websocket.Inc()
	}
	// Greet writes with a context of its own, not the request's, which the
	// library would keep for the socket's life.
	if err := ws.Greet(conn, hello); err != nil {
		ws.Drop(conn) // and Hold's read ends at once
	}
	if !held {
		ws.GoingAway(conn)
		release()
		return
	}
	go s.sockets.Hold(conn, func() { s.metrics.websocket.Dec(); release() }, renew)
}

// errTooManySockets refuses the handshake of a session that holds
// ws.MaxPerSession sockets already, on this replica or across the cluster.
var errTooManySockets = &Error{Status: http.StatusTooManyRequests,
	Detail: "this session holds " + strconv.Itoa(ws.MaxPerSession) + " sockets already, the most it may; close one first"}

// tokenMessage is the one message a client sends on an owned socket, to
// keep it open past its token's expiry: {"type":"token","token":"<a fresh
// access token of the same session>"}.
type tokenMessage struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

// The reasons an owned socket is closed with ws.StatusTokenRefused; close
// reasons, not HTTP errors, so not through toError.
var (
	errNotTokenMessage = errors.New(`not a token message: {"type":"token","token":"..."}`)
	errSocketToken     = errors.New("the token is invalid or expired")
	errOtherSession    = errors.New("the token is of another session than the socket's")
)

// The closes of a renewal that finds the session changed.
var (
	errSocketSessionEnded = &ws.Refusal{Code: ws.StatusSessionEnded, Reason: ws.ReasonSessionEnded}
	errSocketFactor       = &ws.Refusal{Code: ws.StatusFactorRequired, Reason: ws.ReasonFactorRequired}
)

// renewWebSocket reads a token message on o's socket and returns the
// fresh token's remaining life and whether the session is at aal2. The
// token must be of the socket's own session (a socket never speaks for
// another) and pass the checks of every bearer request, read afresh: its
// level generation (checkLevel: 4003 for a token of an older level), and the
// assurance rule (4004 when the account has a second factor the session
// has not shown: one added since the socket opened, whose announcement this
// replica missed).
func (s *Server) renewWebSocket(o *ws.Owner, msg []byte) (time.Duration, bool, error) {
	var m tokenMessage
	if err := json.Unmarshal(msg, &m); err != nil || m.Type != "token" {
		return 0, false, errNotTokenMessage
	}
	p, exp, err := s.tokens.VerifyUntil(m.Token)
	ttl := exp.Sub(s.now())
	if err != nil || ttl <= 0 {
		return 0, false, errSocketToken
	}
	if p.UserID != o.UserID || p.SessionID != o.SessionID {
		return 0, false, errOtherSession
	}
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	acc, err := s.store.GetSessionAccess(ctx, p.SessionID, p.UserID)
	switch {
	case errors.Is(err, db.ErrNoSession):
		return 0, false, errSocketSessionEnded
	case err != nil:
		s.log.Warn("renewing a socket's token", slog.Any("err", err))
		return 0, false, errSocketToken
	}
	if checkLevel(p, acc) != nil {
		return 0, false, errSocketToken
	}
	if checkAssurance(acc, "openWebSocket", s.now(), s.reauthMaxAge()) != nil {
		return 0, false, errSocketFactor
	}
	s.sockets.SetKey(o, s.tokens.KeyID(m.Token))
	return ttl, acc.AAL == db.AAL2, nil
}

// renewTimeout bounds the session check of a renewal.
const renewTimeout = 5 * time.Second
