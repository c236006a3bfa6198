package server

import (
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

// tokens issues and verifies keel's access tokens: HS256 JWTs with sub (the
// user id), iat, exp and iss. Only HS256 is accepted, so "alg: none" and
// algorithm-swap tokens fail.
type tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser

	// verified remembers tokens that passed every check, with their user
	// and expiry, so that a client's repeated requests skip parsing, JSON
	// decoding and the HMAC (a quarter of GET /profile). The key is the whole
	// token, signature included, so a changed token is never a hit; expiry is
	// checked on every hit. Bounded: cleared when full.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	userID  int64
	expires time.Time
}

// maxVerified bounds the verified-token cache (about 300 bytes an entry).
const maxVerified = 4096

func newTokens(secret []byte, ttl time.Duration, now func() time.Time) *tokens {
	return &tokens{
		secret:   secret,
		ttl:      ttl,
		now:      now,
		verified: map[string]verifiedToken{},
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

// issue returns a signed token for the user.
func (t *tokens) issue(userID int64) (string, error) {
	now := t.now()
	claims := jwt.RegisteredClaims{
		Issuer:    tokenIssuer,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
}

var errBadSubject = errors.New("token has no valid subject")

// verify checks the token's signature and claims and returns its user id.
func (t *tokens) verify(raw string) (int64, error) {
	t.mu.RLock()
	v, ok := t.verified[raw]
	t.mu.RUnlock()
	if ok && t.now().Before(v.expires.Add(tokenLeeway)) {
		return v.userID, nil
	}

	var claims jwt.RegisteredClaims
	if _, err := t.parser.ParseWithClaims(raw, &claims, t.key); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id < 1 {
		return 0, errBadSubject
	}

	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[raw] = verifiedToken{userID: id, expires: claims.ExpiresAt.Time}
	t.mu.Unlock()
	return id, nil
}

func (t *tokens) key(*jwt.Token) (any, error) { return t.secret, nil }
