// Package ws is keel's side of RFC 6455 beside the WebSocket library
// (coder/websocket): the handshake checks, made before the upgrade so that
// the caller answers a refusal in its own words; an upgrade that leaves each
// held socket small buffers; and the registry of held sockets, which says
// goodbye to all of them (1001) from one place on shutdown, so a held socket
// needs no goroutine of its own to watch for it. A socket opened with an
// access token is owned by its session (owned.go): the registry closes it
// when the session ends, the token expires, or the account gains a second
// factor the session has not shown.
package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// The handshake refusals CheckHandshake returns.
var (
	// ErrNotUpgrade is a request without Connection: upgrade and Upgrade:
	// websocket (426).
	ErrNotUpgrade = errors.New("ws: not a WebSocket upgrade")
	// ErrBadHandshake is an upgrade without version 13 and one valid key,
	// or over HTTP/1.0 (400).
	ErrBadHandshake = errors.New("ws: invalid handshake")
	// ErrCrossOrigin is a handshake from another origin (403).
	ErrCrossOrigin = errors.New("ws: cross-origin handshake")
)

// CheckHandshake checks r is a WebSocket handshake keel accepts, and on a
// refusal sets in answer the headers RFC 6455 asks it to carry.
func CheckHandshake(r *http.Request, answer http.Header) error {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		answer.Set("Upgrade", "websocket")
		return ErrNotUpgrade
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" || !validKey(r.Header.Values("Sec-WebSocket-Key")) || !r.ProtoAtLeast(1, 1) {
		answer.Set("Sec-WebSocket-Version", "13")
		return ErrBadHandshake
	}
	if !sameOrigin(r) {
		return ErrCrossOrigin
	}
	return nil
}

// A held socket costs one goroutine and the few kilobytes below; see "Held
// WebSockets" in BENCH.md for where the memory went before.
const (
	// ReadBuffer and WriteBuffer size the buffers a socket keeps for its
	// life, in place of net/http's 4 KiB reader and writer. A frame larger
	// than a buffer is still read and written whole, only in more calls.
	ReadBuffer  = 512
	WriteBuffer = 512
)

// Accept upgrades a request CheckHandshake has passed, choosing the first
// of protocols the client offers as the socket's subprotocol. On an error the
// library has answered the client and the handshake is over.
func Accept(w http.ResponseWriter, r *http.Request, protocols ...string) (*websocket.Conn, error) {
	// The origin was checked by CheckHandshake, in the caller's words.
	return websocket.Accept(leanHijacker{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: protocols})
}

// Registry is the set of held WebSockets.
type Registry struct {
	mu sync.Mutex
	// conns are the held sockets, each with its owner (nil: anonymous).
	conns   map[*websocket.Conn]*Owner
	closing bool
	held    sync.WaitGroup // one per socket in conns, until its Hold returns
	// owned are the owned sockets by user, and endings counts EndSessions
	// and RequireFactor calls (owned.go).
	owned   map[int64]map[*websocket.Conn]*Owner
	endings uint64
	// perSession counts each session's sockets, held or about to be
	// (limit.go).
	perSession map[string]int
}

// Add registers conn, or reports false once CloseAll has begun.
func (reg *Registry) Add(conn *websocket.Conn) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.add(conn, nil)
}

// add registers conn with its owner; reg.mu is held.
func (reg *Registry) add(conn *websocket.Conn, o *Owner) bool {
	if reg.closing {
		return false
	}
	if reg.conns == nil {
		reg.conns = make(map[*websocket.Conn]*Owner)
	}
	reg.conns[conn] = o
	reg.held.Add(1)
	return true
}

// Hold reads conn, which Add or AddOwned registered, until the client closes
// it or goes away, answering pings and close frames; run it as the socket's
// only goroutine. On an anonymous socket a data message (keel expects none)
// closes the socket with 1008; on an owned one, renew reads it (owned.go).
// CloseAll ends the read. closed runs when the socket is closed, before
// CloseAll can return.
func (reg *Registry) Hold(conn *websocket.Conn, closed func(), renew Renew) {
	defer reg.remove(conn)
	defer closed()
	reg.mu.Lock()
	o := reg.conns[conn]
	reg.mu.Unlock()
	for {
		// A context without Done: the read sets up no timer or callback.
		typ, r, err := conn.Reader(context.Background())
		if err != nil {
			conn.CloseNow()
			return
		}
		if o == nil || renew == nil {
			conn.Close(websocket.StatusPolicyViolation, "keel does not read messages on this socket")
			return
		}
		if !reg.renew(conn, o, typ, r, renew) {
			return
		}
	}
}

func (reg *Registry) remove(conn *websocket.Conn) {
	reg.mu.Lock()
	if o := reg.conns[conn]; o != nil {
		o.expiry.Stop()
		reg.unreserve(o.SessionID)
		delete(reg.owned[o.UserID], conn)
		if len(reg.owned[o.UserID]) == 0 {
			delete(reg.owned, o.UserID)
		}
	}
	delete(reg.conns, conn)
	reg.mu.Unlock()
	reg.held.Done()
}

// CloseAll refuses new sockets, closes every held one with 1001 (going away)
// at once, and returns when all their close handshakes and Hold calls are
// done.
func (reg *Registry) CloseAll() {
	reg.mu.Lock()
	reg.closing = true
	conns := make([]*websocket.Conn, 0, len(reg.conns))
	for c := range reg.conns {
		conns = append(conns, c)
	}
	reg.mu.Unlock()

	var closers sync.WaitGroup
	for _, c := range conns {
		closers.Go(func() { GoingAway(c) })
	}
	closers.Wait()
	reg.held.Wait()
}

// Greet sends text to conn as a text message: the first one a socket gets.
// It writes with a context of its own: the library keeps the context of the
// last write, and the request's would pin its context chain for the socket's
// life. The first frame of a new socket fits in the kernel's send buffer, so
// this write does not wait.
func Greet(conn *websocket.Conn, text string) error {
	return conn.Write(context.Background(), websocket.MessageText, []byte(text))
}

// Drop closes conn at once, without a close handshake; a Hold on it returns
// at once.
func Drop(conn *websocket.Conn) { conn.CloseNow() }

// GoingAway closes conn with 1001: the server is shutting down.
func GoingAway(conn *websocket.Conn) {
	conn.Close(websocket.StatusGoingAway, "server shutting down")
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
	br := bufio.NewReaderSize(conn, ReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(early), conn), max(ReadBuffer, n))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, WriteBuffer)), nil
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
