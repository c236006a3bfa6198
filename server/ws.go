package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
)

// greeting is the first message every WebSocket client receives.
const greeting = "Hello from keel WebSocket"

// A held socket costs one goroutine and the few kilobytes below; see "Held
// WebSockets" in BENCH.md for where the memory went before.
const (
	// wsReadBuffer and wsWriteBuffer size the buffers a socket keeps for its
	// life, in place of net/http's 4 KiB reader and writer. A frame larger
	// than a buffer is still read and written whole, only in more calls.
	wsReadBuffer  = 512
	wsWriteBuffer = 512
)

// openWebSocket upgrades GET /ws and sends the greeting, then hands the
// socket to s.holdSocket and returns, so that neither the HTTP request (its
// goroutine, buffers, Echo context, middleware state) nor its log line stays
// alive while the socket is held. Handshake errors are checked here first so
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
	// An authenticated socket would check its credentials here, before the
	// upgrade, and pass what it learns to holdSocket.

	// The origin was checked above, in keel's own words.
	conn, err := websocket.Accept(leanHijacker{c.Response()}, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered the client; the handshake is over.
	}
	// Counted before the greeting, so a client that has it sees itself in
	// keel_websockets_open.
	held := s.sockets.add(conn)
	if held {
		s.metrics.websocket.Inc()
	}
	// The library keeps the context of the last write; the request's would pin
	// its context chain for the socket's life. The first frame of a new socket
	// fits in the kernel's send buffer, so this write does not wait.
	if err := conn.Write(context.Background(), websocket.MessageText, []byte(greeting)); err != nil {
		conn.CloseNow() // and holdSocket's read ends at once
	}
	if !held {
		// Close has begun: say goodbye at once, as it does to the others.
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	go s.holdSocket(conn)
	return nil
}

// holdSocket reads conn until the client closes it or goes away, answering
// pings and close frames; it is the socket's only goroutine. A data message
// (keel expects none) closes the socket with 1008. On shutdown Close closes
// every held socket with 1001, which ends the read here.
func (s *Server) holdSocket(conn *websocket.Conn) {
	defer s.sockets.remove(conn)
	defer s.metrics.websocket.Dec()
	// A context without Done: the read sets up no timer or callback.
	if _, _, err := conn.Reader(context.Background()); err == nil {
		conn.Close(websocket.StatusPolicyViolation, "keel does not read messages on this socket")
		return
	}
	conn.CloseNow()
}

// socketSet is the registry of held WebSockets: Server.Close walks it to say
// goodbye to each from one place, so a held socket needs no goroutine of its
// own to watch for shutdown.
type socketSet struct {
	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	closing bool
	held    sync.WaitGroup // one per socket in conns, until its holdSocket returns
}

// add registers conn, or reports false once closeAll has begun.
func (ss *socketSet) add(conn *websocket.Conn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	if ss.conns == nil {
		ss.conns = make(map[*websocket.Conn]struct{})
	}
	ss.conns[conn] = struct{}{}
	ss.held.Add(1)
	return true
}

func (ss *socketSet) remove(conn *websocket.Conn) {
	ss.mu.Lock()
	delete(ss.conns, conn)
	ss.mu.Unlock()
	ss.held.Done()
}

// closeAll refuses new sockets, closes every held one with 1001 (going away)
// at once, and returns when all their close handshakes and holdSocket
// goroutines are done.
func (ss *socketSet) closeAll() {
	ss.mu.Lock()
	ss.closing = true
	conns := make([]*websocket.Conn, 0, len(ss.conns))
	for c := range ss.conns {
		conns = append(conns, c)
	}
	ss.mu.Unlock()

	var closers sync.WaitGroup
	for _, c := range conns {
		closers.Go(func() { c.Close(websocket.StatusGoingAway, "server shutting down") })
	}
	closers.Wait()
	ss.held.Wait()
}

// leanHijacker gives the WebSocket library small buffers when it hijacks the
// connection. net/http hands over its 4 KiB request reader and a new 4 KiB
// writer, which the library would keep for the socket's whole life.
type leanHijacker struct{ http.ResponseWriter }

func (w leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// net/http has already flushed the 101 response. Bytes the client sent
	// after its handshake may wait in net/http's reader: move them into the
	// new reader's buffer, where the library looks for them (it replaces the
	// reader's source with the connection).
	br := bufio.NewReaderSize(conn, wsReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(early), conn), max(wsReadBuffer, n))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
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
