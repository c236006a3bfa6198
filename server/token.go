package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	tokenIssuer = "keel"
	// tokenLeeway is the clock skew allowed between keel instances and clients
	// when checking exp, iat and nbf.
	tokenLeeway = 30 * time.Second
)

// principal is who a verified access token speaks for: a user, through one
// of their sessions.
type principal struct {
	userID    int64
	sessionID string
}

// tokens issues and verifies keel's access tokens: HS256 JWTs with sub (the
// user id), sid (the session id), iat, exp and iss. Only HS256 is accepted,
// so "alg: none" and algorithm-swap tokens fail. A valid signature says
// nothing about whether the session still lives: every bearer request asks
// the database that (see Server.sessionLive).
type tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
	// refreshKey derives refresh tokens (see refresh).
	refreshKey []byte

	// verified remembers tokens whose signature and claims passed, with
	// their principal and expiry, so that a client's repeated requests skip
	// parsing, JSON decoding and the HMAC (a quarter of GET /profile). It
	// caches the signature check only, never liveness: a hit still goes to
	// the session check. The key is the whole token, signature included, so
	// a changed token is never a hit; expiry is checked on every hit.
	// Bounded: cleared when full.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	principal
	expires time.Time
}

// maxVerified bounds the verified-token cache (about 300 bytes an entry).
const maxVerified = 4096

func newTokens(secret []byte, ttl time.Duration, now func() time.Time) *tokens {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("keel refresh-token key v1"))
	return &tokens{
		secret:     secret,
		ttl:        ttl,
		now:        now,
		refreshKey: mac.Sum(nil),
		verified:   map[string]verifiedToken{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(tokenIssuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(tokenLeeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// claims are the access token's: the registered ones and the session id.
type claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// issue returns a signed access token for the user's session.
func (t *tokens) issue(p principal) (string, error) {
	now := t.now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   strconv.FormatInt(p.userID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		},
		SessionID: p.sessionID,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

var (
	errBadSubject = errors.New("token has no valid subject")
	errNoSession  = errors.New("token names no session")
)

// verify checks the token's signature and claims and returns whom it speaks for.
func (t *tokens) verify(raw string) (principal, error) {
	t.mu.RLock()
	v, ok := t.verified[raw]
	t.mu.RUnlock()
	if ok && t.now().Before(v.expires.Add(tokenLeeway)) {
		return v.principal, nil
	}

	var c claims
	if _, err := t.parser.ParseWithClaims(raw, &c, t.key); err != nil {
		return principal{}, err
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id < 1 {
		return principal{}, errBadSubject
	}
	if c.SessionID == "" || len(c.SessionID) > maxSessionIDLen {
		return principal{}, errNoSession
	}
	p := principal{userID: id, sessionID: c.SessionID}

	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[raw] = verifiedToken{principal: p, expires: c.ExpiresAt.Time}
	t.mu.Unlock()
	return p, nil
}

func (t *tokens) key(*jwt.Token) (any, error) { return t.secret, nil }

// Session ids are 128 random bits, base64url: unguessable, so that a session
// id reused after a database is reset cannot meet a refresh token of the old one.
const (
	sessionIDBytes  = 16
	maxSessionIDLen = 64
)

func newSessionID() string {
	b := make([]byte, sessionIDBytes)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// refresh returns the session's refresh token of the given generation.
//
// Refresh tokens are derived, not drawn at random: base64url(sid ‖ generation
// ‖ HMAC-SHA256(refreshKey, sid ‖ generation)), where refreshKey is derived
// from JWT_SECRET. To a client it is an opaque 75-character string that
// nobody without the secret can forge. The database keeps only its SHA-256
// (sessions.refresh_hash), yet the server can
//   - tell from any token, current or spent, which session and generation it
//     belongs to, so presenting a spent one (generation < current) is caught
//     as reuse and ends that session, without a table of spent tokens;
//   - give a client presenting the token just replaced, within
//     REFRESH_REUSE_INTERVAL, the current token again, by deriving it.
//
// Changing JWT_SECRET voids every refresh token, as it voids access tokens.
func (t *tokens) refresh(sessionID string, generation int64) string {
	sid, err := base64.RawURLEncoding.DecodeString(sessionID)
	if err != nil || len(sid) != sessionIDBytes {
		panic("refresh token for a malformed session id") // ids come from newSessionID
	}
	b := make([]byte, 0, sessionIDBytes+8+sha256.Size)
	b = append(b, sid...)
	b = binary.BigEndian.AppendUint64(b, uint64(generation))
	b = append(b, t.refreshMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (t *tokens) refreshMAC(msg []byte) []byte {
	mac := hmac.New(sha256.New, t.refreshKey)
	mac.Write(msg)
	return mac.Sum(nil)
}

// parseRefresh checks a refresh token's MAC and returns its session id and
// generation; ok is false for anything keel did not issue.
func (t *tokens) parseRefresh(token string) (sessionID string, generation int64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != sessionIDBytes+8+sha256.Size {
		return "", 0, false
	}
	msg, mac := b[:sessionIDBytes+8], b[sessionIDBytes+8:]
	if !hmac.Equal(mac, t.refreshMAC(msg)) {
		return "", 0, false
	}
	g := binary.BigEndian.Uint64(msg[sessionIDBytes:])
	if g < 1 || g > 1<<62 {
		return "", 0, false
	}
	return base64.RawURLEncoding.EncodeToString(msg[:sessionIDBytes]), int64(g), true
}
