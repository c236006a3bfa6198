// Package token issues and verifies keel's credentials that are not
// passwords: access tokens (JWTs naming a user and a session, RFC 9068's
// at+jwt, signed with the signing key set's current key, or HS256 on an
// install that has not switched yet) and refresh tokens (opaque, derived
// from the session id, its generation and the secret). A valid token says
// nothing about whether its session still lives: that is the database's to
// say (the server asks on every request).
package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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
	// Type is the access token's typ header (RFC 9068 §2.1): keel refuses
	// any other, so no other JWT keel signs (an ID token, a client's token)
	// is taken for one of its access tokens.
	Type = "at+jwt"
	// DefaultAudience is the aud of keel's access tokens unless
	// JWT_AUDIENCE says otherwise.
	DefaultAudience = "keel"
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

// Keys is the signing key set access tokens are signed and verified with
// (internal/keys.Ring).
type Keys interface {
	// Signer is the key to sign with: its kid, algorithm and private key.
	Signer() (kid, alg string, key crypto.Signer)
	// PublicKey is the published key kid and its algorithm.
	PublicKey(ctx context.Context, kid string) (alg string, key crypto.PublicKey, ok bool)
	// Published reports whether kid is still published, from memory.
	Published(kid string) bool
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithKeys signs access tokens with the key set's current key and verifies
// them with its published keys, instead of HS256 with the secret.
func WithKeys(k Keys) Option { return func(t *Issuer) { t.keys = k } }

// WithHS256Until accepts HS256 tokens signed with the secret until t, beside
// the key set's: an install that signed HS256 before it had keys accepts
// the tokens it signed then until they expire. Without it, a keel with
// keys refuses every HS256 token.
func WithHS256Until(t time.Time) Option { return func(i *Issuer) { i.hs256Until = t } }

// WithClaims sets the iss (keel's public base URL, API_URL) and aud
// (JWT_AUDIENCE) of the tokens issued, and required of those verified.
func WithClaims(issuer, audience string) Option {
	return func(t *Issuer) { t.issuer, t.audience = issuer, audience }
}

// Issuer issues and verifies keel's access tokens: JWTs with typ at+jwt,
// sub (the user id), sid (the session id), aal, amr and lvl, iat, exp, iss
// and aud. A token is accepted only with its key's own algorithm and a
// published kid, or HS256 with the secret while that is still allowed, so
// "alg: none", algorithm-swap tokens and tokens of revoked keys fail.
// Refresh tokens are a Refresher's (refresh.go).
type Issuer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	keys   Keys
	// hs256Until is when HS256 tokens stop being accepted beside the key
	// set's (see WithHS256Until).
	hs256Until time.Time
	issuer     string
	audience   string
	parser     *jwt.Parser

	// verified remembers tokens whose signature and claims passed, with
	// their principal, key and expiry, so that a client's repeated requests
	// skip parsing, JSON decoding and the signature check (a quarter of GET
	// /profile with HS256, most of it with EdDSA). It caches the signature
	// check only, never liveness; a hit whose key is no longer published
	// (revoked) is a miss. The key is the whole token, signature included,
	// so a changed token is never a hit; expiry is checked on every hit.
	// Bounded: a quarter goes when full.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	Principal
	kid     string
	expires time.Time
}

// maxVerified bounds the verified-token cache (about 400 bytes an entry
// with EdDSA tokens: 6 MB full). When full, a quarter of it goes (Go's map
// order picks which): emptying it all would make a replica serving more
// distinct tokens than the bound miss on nearly every request, and an
// EdDSA check costs seven times an HMAC one (BENCH.md).
const maxVerified = 16384

// New returns an Issuer whose access tokens last ttl by the clock now,
// signed with HS256 under secret (at least MinSecretLen bytes; the caller
// checks) unless WithKeys gives it a key set.
func New(secret []byte, ttl time.Duration, now func() time.Time, opts ...Option) *Issuer {
	if now == nil {
		now = time.Now
	}
	t := &Issuer{
		secret:   secret,
		ttl:      ttl,
		now:      now,
		issuer:   "keel",
		audience: DefaultAudience,
		verified: map[string]verifiedToken{},
	}
	for _, o := range opts {
		o(t)
	}
	methods := []string{jwt.SigningMethodHS256.Alg()}
	if t.keys != nil {
		methods = append(methods, jwt.SigningMethodEdDSA.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodRS256.Alg())
	}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
	)
	return t
}

// TTL is how long an access token lasts.
func (t *Issuer) TTL() time.Duration { return t.ttl }

// Alg is the algorithm new access tokens are signed with.
func (t *Issuer) Alg() string {
	if t.keys == nil {
		return jwt.SigningMethodHS256.Alg()
	}
	_, alg, _ := t.keys.Signer()
	return alg
}

// claims are the access token's: the registered ones (aud a single string,
// as RFC 9068 shows it), the session id and its assurance.
type claims struct {
	jwt.RegisteredClaims
	Audience  string   `json:"aud"`
	SessionID string   `json:"sid"`
	AAL       string   `json:"aal,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	Level     int64    `json:"lvl,omitempty"`
}

// GetAudience is the one audience, for the parser's check.
func (c claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
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
	return t.IssueWith(p, limit, nil)
}

// IssueWith is IssueBefore for a token that also carries extra claims (the
// user's roles and the claims listed from app_metadata: internal/claims),
// each JSON-encodable. None replaces a claim keel sets (an extra named
// like one is left out), and verifying reads none of them: they are the
// token's readers', not keel's.
func (t *Issuer) IssueWith(p Principal, limit time.Time, extra map[string]any) (string, time.Duration, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	if !limit.IsZero() && limit.Before(exp) {
		exp = limit
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   strconv.FormatInt(p.UserID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Audience:  t.audience,
		SessionID: p.SessionID,
		AAL:       p.AAL,
		AMR:       strings.Fields(p.AMR),
		Level:     p.Level,
	}
	var method jwt.SigningMethod = jwt.SigningMethodHS256
	var key any = t.secret
	kid := ""
	if t.keys != nil {
		var alg string
		kid, alg, key = t.keys.Signer()
		method = jwt.GetSigningMethod(alg)
	}
	var jc jwt.Claims = c
	if len(extra) > 0 {
		jc = withExtra{c, extra}
	}
	j := jwt.NewWithClaims(method, jc)
	j.Header["typ"] = Type
	if kid != "" {
		j.Header["kid"] = kid
	}
	tok, err := j.SignedString(key)
	return tok, exp.Sub(now), err
}

// withExtra is an access token's claims with extra ones beside them.
type withExtra struct {
	claims
	extra map[string]any
}

// MarshalJSON is keel's claims, then each extra one whose name they do not
// already hold.
func (c withExtra) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.claims)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range c.extra {
		if _, ok := m[k]; ok || keelClaims[k] {
			continue
		}
		if m[k], err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// keelClaims are the claims keel's access tokens may carry, omitted when
// empty: an extra claim never takes the place of one.
var keelClaims = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "sid": true, "aal": true, "amr": true, "lvl": true}

var (
	errBadSubject = errors.New("token has no valid subject")
	errNoSession  = errors.New("token names no session")
	errType       = errors.New("token is not an access token (typ)")
	errUnknownKey = errors.New("token's key is not published")
	errKeyAlg     = errors.New("token's algorithm is not its key's")
	errHS256      = errors.New("HS256 tokens are no longer accepted")
	errCrit       = errors.New("token names critical header extensions keel does not understand")
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
	if ok && t.now().Before(v.expires.Add(Leeway)) && t.stillAccepted(v.kid) {
		return v.Principal, v.expires, nil
	}

	var c claims
	tok, err := t.parser.ParseWithClaims(raw, &c, t.key)
	if err != nil {
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
	kid, _ := tok.Header["kid"].(string)
	if tok.Method == jwt.SigningMethodHS256 {
		kid = ""
	}

	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		t.evictQuarter()
	}
	t.verified[raw] = verifiedToken{Principal: p, kid: kid, expires: c.ExpiresAt.Time}
	t.mu.Unlock()
	return p, c.ExpiresAt.Time, nil
}

// stillAccepted reports whether a cached token of key kid ("": HS256) is
// still accepted: its key still published, or HS256 still allowed, so that
// neither a revocation nor the end of the HS256 window waits for a cached
// token's exp.
func (t *Issuer) stillAccepted(kid string) bool {
	switch {
	case t.keys == nil:
		return true
	case kid == "":
		return t.now().Before(t.hs256Until)
	}
	return t.keys.Published(kid)
}

// KeyID returns the kid of a token Verify accepted: the signing key a
// revocation of which voids it ("" for HS256, which no kid names).
func (t *Issuer) KeyID(raw string) string {
	t.mu.RLock()
	v, ok := t.verified[raw]
	t.mu.RUnlock()
	if ok {
		return v.kid
	}
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ Alg, Kid string }
	if err != nil || json.Unmarshal(b, &h) != nil || h.Alg == jwt.SigningMethodHS256.Alg() {
		return ""
	}
	return h.Kid
}

// evictQuarter deletes a quarter of the verified-token cache, the first
// ones Go's randomised map order yields. Called with t.mu held.
func (t *Issuer) evictQuarter() {
	n := len(t.verified) / 4
	for k := range t.verified {
		if n == 0 {
			return
		}
		delete(t.verified, k)
		n--
	}
}

// key finds the key a token is verified with: the published key its kid
// names, when the token's algorithm is that key's, or for HS256 the secret,
// while HS256 is accepted (without keys; with them, until every token signed
// before the install had keys has expired). A public key is never returned for HS256, so a token
// "signed" with one (algorithm confusion) fails.
func (t *Issuer) key(tok *jwt.Token) (any, error) {
	if typ, _ := tok.Header["typ"].(string); !isAccessType(typ) {
		return nil, errType
	}
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515 §4.1.11: keel understands no extension, and signs none.
		return nil, errCrit
	}
	if tok.Method == jwt.SigningMethodHS256 {
		if t.keys != nil && !t.now().Before(t.hs256Until) {
			return nil, errHS256
		}
		return t.secret, nil
	}
	kid, _ := tok.Header["kid"].(string)
	alg, pub, ok := t.keys.PublicKey(context.Background(), kid)
	if !ok {
		return nil, errUnknownKey
	}
	if alg != tok.Method.Alg() {
		return nil, errKeyAlg
	}
	return pub, nil
}

// isAccessType reports whether typ names an access token: "at+jwt", or its
// media type "application/at+jwt", in any letter case (RFC 9068 §4).
func isAccessType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == Type || typ == "application/"+Type
}

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
