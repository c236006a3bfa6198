// Package token issues and verifies keel's credentials that are not
// passwords: access tokens (HS256 JWTs naming a user and a session) and
// refresh tokens (opaque, derived from the session id, its generation and
// the secret). A valid token says nothing about whether its session still
// lives: that is the database's to say (the server asks on every request).
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest signing secret keel accepts, in bytes.
const MinSecretLen = 32

const (
	issuer = "keel"
	// Leeway is the clock skew allowed between keel instances and clients
	// when checking exp, iat and nbf.
	Leeway = 30 * time.Second
)

// Principal is who a verified access token speaks for: a user, through one
// of their sessions, and how sure the session was of them when the token was
// issued (the database holds the session's current assurance).
type Principal struct {
	UserID    int64
	SessionID string
	// AAL is the session's assurance level ("aal1", "aal2"); AMR the
	// authentication methods (RFC 8176: "pwd", "otp", "mfa"), separated by
	// spaces. The token carries them as the claims aal and amr (an array).
	AAL string
	AMR string
	// Level is the session's level generation when the token was issued
	// (the claim lvl; 0 when absent): a token of an older generation than
	// the session's is refused, so one minted before the session's level
	// changed never speaks for it again.
	Level int64
}

// Issuer issues and verifies keel's access tokens: HS256 JWTs with sub (the
// user id), sid (the session id), aal, amr and lvl, iat, exp and iss. Only HS256 is accepted,
// so "alg: none" and algorithm-swap tokens fail. Refresh tokens are a
// Refresher's (refresh.go).
type Issuer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser

	// verified remembers tokens whose signature and claims passed, with
	// their principal and expiry, so that a client's repeated requests skip
	// parsing, JSON decoding and the HMAC (a quarter of GET /profile). It
	// caches the signature check only, never liveness. The key is the whole
	// token, signature included, so a changed token is never a hit; expiry
	// is checked on every hit. Bounded: cleared when full.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	Principal
	expires time.Time
}

// maxVerified bounds the verified-token cache (about 300 bytes an entry).
const maxVerified = 4096

// New returns an Issuer signing with secret (at least MinSecretLen bytes;
// the caller checks), whose access tokens last ttl by the clock now.
func New(secret []byte, ttl time.Duration, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{
		secret:   secret,
		ttl:      ttl,
		now:      now,
		verified: map[string]verifiedToken{},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// TTL is how long an access token lasts.
func (t *Issuer) TTL() time.Duration { return t.ttl }

// claims are the access token's: the registered ones, the session id and
// its assurance.
type claims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	AAL       string   `json:"aal,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	Level     int64    `json:"lvl,omitempty"`
}

// Issue returns a signed access token for the user's session.
func (t *Issuer) Issue(p Principal) (string, error) {
	tok, _, err := t.IssueBefore(p, time.Time{})
	return tok, err
}

// IssueBefore is Issue for a token that expires no later than limit (the
// zero time: no limit), and returns its lifetime too: the session's own
// deadlines (its absolute lifetime, the end of its aal2) bound its tokens,
// so no token speaks for it past them.
func (t *Issuer) IssueBefore(p Principal, limit time.Time) (string, time.Duration, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	if !limit.IsZero() && limit.Before(exp) {
		exp = limit
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   strconv.FormatInt(p.UserID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		SessionID: p.SessionID,
		AAL:       p.AAL,
		AMR:       strings.Fields(p.AMR),
		Level:     p.Level,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	return tok, exp.Sub(now), err
}

var (
	errBadSubject = errors.New("token has no valid subject")
	errNoSession  = errors.New("token names no session")
)

// Verify checks the token's signature and claims and returns whom it speaks for.
func (t *Issuer) Verify(raw string) (Principal, error) {
	p, _, err := t.VerifyUntil(raw)
	return p, err
}

// VerifyUntil is Verify that also returns the token's expiry (its exp, which
// Verify accepts until Leeway past it): a WebSocket lives until then.
func (t *Issuer) VerifyUntil(raw string) (Principal, time.Time, error) {
	t.mu.RLock()
	v, ok := t.verified[raw]
	t.mu.RUnlock()
	if ok && t.now().Before(v.expires.Add(Leeway)) {
		return v.Principal, v.expires, nil
	}

	var c claims
	if _, err := t.parser.ParseWithClaims(raw, &c, t.key); err != nil {
		return Principal{}, time.Time{}, err
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id < 1 {
		return Principal{}, time.Time{}, errBadSubject
	}
	if c.SessionID == "" || len(c.SessionID) > maxSessionIDLen {
		return Principal{}, time.Time{}, errNoSession
	}
	p := Principal{UserID: id, SessionID: c.SessionID, AAL: c.AAL, AMR: strings.Join(c.AMR, " "), Level: c.Level}

	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[raw] = verifiedToken{Principal: p, expires: c.ExpiresAt.Time}
	t.mu.Unlock()
	return p, c.ExpiresAt.Time, nil
}

func (t *Issuer) key(*jwt.Token) (any, error) { return t.secret, nil }

// Session ids are 128 random bits, base64url: unguessable, so that a session
// id reused after a database is reset cannot meet a refresh token of the old one.
const (
	sessionIDBytes  = 16
	maxSessionIDLen = 64
)

// NewSessionID returns a new random session id.
func NewSessionID() string {
	b := make([]byte, sessionIDBytes)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
