package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
)

// greeting is the first message every WebSocket client receives.
const greeting = "Hello from keel WebSocket"

// openWebSocket upgrades GET /ws, sends the greeting, then holds the
// connection until the client closes it or the server shuts down, when it
// closes with 1001 (going away). Handshake errors are checked here first so
// that they are problem+json like every other error.
func (s *Server) openWebSocket(c echo.Context) error {
	r := c.Request()
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		c.Response().Header().Set("Upgrade", "websocket")
		return echo.NewHTTPError(http.StatusUpgradeRequired, "this endpoint speaks WebSocket only")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" || !validKey(r.Header.Values("Sec-WebSocket-Key")) || !r.ProtoAtLeast(1, 1) {
		c.Response().Header().Set("Sec-WebSocket-Version", "13")
		return echo.NewHTTPError(http.StatusBadRequest, "not a valid WebSocket handshake (version 13 with a key)")
	}
	if !sameOrigin(r) {
		return echo.NewHTTPError(http.StatusForbidden, "cross-origin WebSocket handshakes are refused")
	}

	s.sockets.Add(1)
	defer s.sockets.Done()
	// The origin was checked above, in keel's own words.
	conn, err := websocket.Accept(c.Response(), r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered the client; the handshake is over.
	}
	defer conn.CloseNow()
	s.metrics.websocket.Inc()
	defer s.metrics.websocket.Dec()

	ctx := conn.CloseRead(r.Context())
	if err := conn.Write(ctx, websocket.MessageText, []byte(greeting)); err != nil {
		return nil
	}
	select {
	case <-ctx.Done(): // the client closed or went away
	case <-s.closing:
		conn.Close(websocket.StatusGoingAway, "server shutting down")
	}
	return nil
}

// validKey reports whether the handshake has one Sec-WebSocket-Key that is 16
// bytes in base64 (RFC 6455 §4.2.1), as the WebSocket library requires.
func validKey(keys []string) bool {
	if len(keys) != 1 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0]))
	return err == nil && len(b) == 16
}

// headerHasToken reports whether the comma-separated header holds token,
// ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// sameOrigin accepts handshakes without an Origin (non-browser clients) and
// those whose Origin host is the host they connect to, so that another site's
// page cannot open a socket with a visitor's cookies.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
