package ws

// Owned sockets: a socket opened with an access token speaks for that
// token's session, so it must not outlive either. The registry indexes owned
// sockets by user, closes those of a session that ended (EndSessions, from
// the database's announcements) and each at its token's expiry (a timer, not
// a goroutine), unless the client renews it with a fresh token of the same
// session first.

import (
	"errors"
	"io"
	"time"

	"github.com/coder/websocket"
)

// The close codes of owned sockets, in the range RFC 6455 §7.4.2 leaves to
// applications; api/openapi.yaml (GET /ws) documents them.
const (
	// StatusSessionEnded: the socket's session ended (logout, revocation,
	// password change or reset, refresh-token reuse, account deletion).
	StatusSessionEnded websocket.StatusCode = 4001
	// StatusTokenExpired: the socket's access token expired and no fresh one
	// came on the socket.
	StatusTokenExpired websocket.StatusCode = 4002
	// StatusTokenRefused: a message on the socket was not a valid token
	// message for its session.
	StatusTokenRefused websocket.StatusCode = 4003
	// StatusFactorRequired: the socket's session is aal1 and its account
	// has a verified second factor (added since the socket opened, or found
	// at a renewal): the session must verify it before it has a socket.
	StatusFactorRequired websocket.StatusCode = 4004
)

// The reasons sent with those codes.
const (
	ReasonSessionEnded = "the session has ended"
	ReasonTokenExpired = "the access token expired"
	// ReasonKeyRevoked goes with StatusTokenExpired: the key that signed
	// the socket's token was revoked, so the token is no longer valid.
	ReasonKeyRevoked     = "the access token's signing key was revoked"
	ReasonFactorRequired = "a second factor is required"
)

// MaxMessage bounds a message an owned socket reads (a token message is a
// few hundred bytes); the library closes the socket with 1009 past it.
const MaxMessage = 4096

// Owner is the session an owned socket speaks for.
type Owner struct {
	UserID    int64
	SessionID string
	// expiry closes the socket with StatusTokenExpired; aal2 is whether its
	// session was at aal2 when last checked (a second factor added to the
	// account closes the sockets of the others: RequireFactor). Both are
	// guarded by the registry's mu.
	expiry *time.Timer
	aal2   bool
	// keyID is the kid of the signing key of the socket's last token ("":
	// HS256): a revocation of that key closes it (EndKeys). Guarded by mu.
	keyID string
}

// Renew reads a message sent on o's socket and returns how long the socket
// may live from now (the remaining life of the fresh token it carries) and
// whether its session is at aal2, or an error whose text is the reason the
// socket is closed with StatusTokenRefused (at most 123 bytes; never the
// token), or a *Refusal with a code of its own.
type Renew func(o *Owner, msg []byte) (ttl time.Duration, aal2 bool, err error)

// Refusal is a Renew error that closes the socket with Code (such as
// StatusSessionEnded or StatusFactorRequired) instead of StatusTokenRefused.
type Refusal struct {
	Code   websocket.StatusCode
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// Endings is how many times sessions have been ended. A caller that checks
// a session before AddOwned reads it first and passes it to AddOwned, which
// then says whether an ending came in between, unseen by both.
func (reg *Registry) Endings() uint64 {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.endings
}

// AddOwned registers conn as owned by the session sessionID of userID (at
// aal2 or not), opened with a token of the signing key kid, to close with
// StatusTokenExpired after ttl. held is false once CloseAll has
// begun (as Add's); missed is true when sessions ended since Endings
// returned since (or a factor was required), and the caller must check its
// session again.
func (reg *Registry) AddOwned(conn *websocket.Conn, userID int64, sessionID, kid string, aal2 bool, ttl time.Duration, since uint64) (held, missed bool) {
	o := &Owner{UserID: userID, SessionID: sessionID, aal2: aal2, keyID: kid}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if !reg.add(conn, o) {
		return false, false
	}
	conn.SetReadLimit(MaxMessage)
	o.expiry = time.AfterFunc(ttl, func() { conn.Close(StatusTokenExpired, ReasonTokenExpired) })
	if reg.owned == nil {
		reg.owned = make(map[int64]map[*websocket.Conn]*Owner)
	}
	byConn := reg.owned[userID]
	if byConn == nil {
		byConn = make(map[*websocket.Conn]*Owner, 1)
		reg.owned[userID] = byConn
	}
	byConn[conn] = o
	return true, reg.endings != since
}

// renew hands a message of o's socket to fn and moves the socket's expiry,
// or closes the socket; it reports whether to go on reading.
func (reg *Registry) renew(conn *websocket.Conn, o *Owner, typ websocket.MessageType, r io.Reader, fn Renew) bool {
	if typ != websocket.MessageText {
		conn.Close(StatusTokenRefused, "a token message is text")
		return false
	}
	msg, err := io.ReadAll(r)
	if err != nil {
		conn.CloseNow() // over MaxMessage: the library has sent 1009
		return false
	}
	ttl, aal2, err := fn(o, msg)
	if err != nil {
		code := StatusTokenRefused
		var r *Refusal
		if errors.As(err, &r) {
			code = r.Code
		}
		conn.Close(code, err.Error())
		return false
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	o.aal2 = aal2
	// A timer that has fired is closing the socket (the next read ends):
	// a token that came too late does not reopen it.
	if o.expiry.Stop() {
		o.expiry.Reset(ttl)
	}
	return true
}

// SetKey records that o's socket was renewed with a token of the signing
// key kid (a Renew calls it).
func (reg *Registry) SetKey(o *Owner, kid string) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	o.keyID = kid
}

// EndKeys closes with StatusTokenExpired (ReasonKeyRevoked) the owned
// sockets whose token's signing key is no longer published, and returns how
// many: a revoked key's tokens are refused, and so are the sockets they
// opened. It does not wait.
func (reg *Registry) EndKeys(published func(kid string) bool) int {
	reg.mu.Lock()
	var doomed []*websocket.Conn
	for _, byConn := range reg.owned {
		for c, o := range byConn {
			if o.keyID != "" && !published(o.keyID) {
				doomed = append(doomed, c)
			}
		}
	}
	reg.mu.Unlock()
	for _, c := range doomed {
		go c.Close(StatusTokenExpired, ReasonKeyRevoked)
	}
	return len(doomed)
}

// EndSessions closes with StatusSessionEnded the owned sockets of userID
// whose session ended says has ended, and returns how many. It does not
// wait: the close handshakes run in goroutines of their own.
func (reg *Registry) EndSessions(userID int64, ended func(sessionID string) bool) int {
	reg.mu.Lock()
	reg.endings++
	var doomed []*websocket.Conn
	for c, o := range reg.owned[userID] {
		if ended(o.SessionID) {
			doomed = append(doomed, c)
		}
	}
	reg.mu.Unlock()
	return endAll(doomed)
}

// RequireFactor closes with StatusFactorRequired the owned sockets of
// userID whose session is not at aal2, but keep's (the session that
// verified the factor, at aal2 now), and returns how many: the account has
// a second factor now, which they have not shown. A socket's level is the
// one its session had when last checked; lowered names sessions found at
// aal1 since (their account's last factor was removed), whose sockets close
// too. It does not wait.
func (reg *Registry) RequireFactor(userID int64, keep string, lowered map[string]bool) int {
	reg.mu.Lock()
	reg.endings++
	var doomed []*websocket.Conn
	for c, o := range reg.owned[userID] {
		if (!o.aal2 || lowered[o.SessionID]) && o.SessionID != keep {
			doomed = append(doomed, c)
		}
	}
	reg.mu.Unlock()
	for _, c := range doomed {
		go c.Close(StatusFactorRequired, ReasonFactorRequired)
	}
	return len(doomed)
}

// SessionsOf returns the sessions of userID that own sockets here at aal2
// as last checked, each once.
func (reg *Registry) SessionsOf(userID int64) []string {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	seen := make(map[string]struct{})
	var ids []string
	for _, o := range reg.owned[userID] {
		if _, ok := seen[o.SessionID]; !ok && o.aal2 {
			seen[o.SessionID] = struct{}{}
			ids = append(ids, o.SessionID)
		}
	}
	return ids
}

// OwnedSessions returns the sessions that own sockets, each once.
func (reg *Registry) OwnedSessions() []string {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	seen := make(map[string]struct{})
	var ids []string
	for _, byConn := range reg.owned {
		for _, o := range byConn {
			if _, ok := seen[o.SessionID]; !ok {
				seen[o.SessionID] = struct{}{}
				ids = append(ids, o.SessionID)
			}
		}
	}
	return ids
}

// EndSessionIDs is EndSessions for sessions named by id, whoever's they
// are: what a re-check found ended.
func (reg *Registry) EndSessionIDs(ended map[string]bool) int {
	reg.mu.Lock()
	reg.endings++
	var doomed []*websocket.Conn
	for _, byConn := range reg.owned {
		for c, o := range byConn {
			if ended[o.SessionID] {
				doomed = append(doomed, c)
			}
		}
	}
	reg.mu.Unlock()
	return endAll(doomed)
}

// endAll closes each of conns with StatusSessionEnded, in goroutines of
// their own, and returns how many.
func endAll(conns []*websocket.Conn) int {
	for _, c := range conns {
		go c.Close(StatusSessionEnded, ReasonSessionEnded)
	}
	return len(conns)
}
