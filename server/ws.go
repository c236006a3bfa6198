package server

import (
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/internal/ws"
)

// greeting is the first message every WebSocket client receives.
const greeting = "Hello from keel WebSocket"

// openWebSocket upgrades GET /ws and sends the greeting, then hands the
// socket to a goroutine of its own (ws.Registry.Hold) and returns, so that
// neither the HTTP request (its goroutine, buffers, Echo context, middleware
// state) nor its log line stays alive while the socket is held. Handshake
// errors are checked first so that they are problem+json like every other
// error.
func (s *Server) openWebSocket(c echo.Context) error {
	r := c.Request()
	if err := ws.CheckHandshake(r, c.Response().Header()); err != nil {
		return err
	}
	// An authenticated socket would check its credentials here, before the
	// upgrade, and pass what it learns to the socket's goroutine.
	conn, err := ws.Accept(c.Response(), r)
	if err != nil {
		return nil // Accept has answered the client; the handshake is over.
	}
	// Counted before the greeting, so a client that has it sees itself in
	// keel_websockets_open.
	held := s.sockets.Add(conn)
	if held {
		s.metrics.websocket.Inc()
	}
	// Greet writes with a context of its own, not the request's, which the
	// library would keep for the socket's life.
	if err := ws.Greet(conn, greeting); err != nil {
		ws.Drop(conn) // and Hold's read ends at once
	}
	if !held {
		// Close has begun: say goodbye at once, as it does to the others.
		ws.GoingAway(conn)
		return nil
	}
	go s.sockets.Hold(conn, s.metrics.websocket.Dec)
	return nil
}
