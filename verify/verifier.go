package verify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Verifier checks keel access tokens against the keys its issuer publishes.
// It is safe for concurrent use; make one per issuer and keep it.
type Verifier struct {
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	keys     *keySet
}

// New returns a Verifier of tokens issued by issuerURL: keel's API_URL,
// exactly as keel's discovery document spells it (no trailing slash). It
// fetches the discovery document and the key set before returning, so that
// a wrong URL fails here rather than on the first token; ctx bounds those
// fetches.
func New(ctx context.Context, issuerURL string, opts ...Option) (*Verifier, error) {
	c := defaults()
	for _, o := range opts {
		o(&c)
	}
	switch {
	case issuerURL == "":
		return nil, errors.New("verify: no issuer URL")
	case c.audience == "":
		return nil, errors.New("verify: empty audience")
	}
	jwksURL, err := discover(ctx, c.client, issuerURL)
	if err != nil {
		return nil, err
	}
	ks := &keySet{
		url:             jwksURL,
		client:          c.client,
		now:             c.now,
		refetchInterval: c.refetchInterval,
		defaultMaxAge:   c.maxAge,
	}
	if err := ks.refresh(ctx); err != nil {
		return nil, err
	}
	return &Verifier{issuer: issuerURL, audience: c.audience, leeway: c.leeway, now: c.now, keys: ks}, nil
}

// Claims is what a verified keel access token says.
type Claims struct {
	Subject   string   // sub: the user's id
	SessionID string   // sid: the session the token was issued to
	AAL       string   // aal: the session's assurance level then ("aal1", "aal2")
	AMR       []string // amr: how the user signed in (RFC 8176: "pwd", "otp", "mfa", ...)
	// Roles are the user's roles (roles: app_metadata.roles, as the
	// operator set them when the token was issued); nil when it has none.
	// The claims keel's JWT_CLAIMS_FROM_APP_METADATA lists are in Raw.
	Roles     []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Raw holds every claim, these included, as decoded from JSON (numbers
	// are float64).
	Raw map[string]any
}

// Errors that Verify's errors match (with errors.Is) when it refuses a
// token. An error that matches neither is a failure to fetch the key set.
var (
	ErrInvalidToken = errors.New("verify: invalid token")
	ErrExpired      = errors.New("verify: token expired")
)

// refused is the error of a refused token: it matches ErrInvalidToken, and
// ErrExpired when expired is set.
type refused struct {
	reason  string
	expired bool
}

func (e *refused) Error() string { return "verify: invalid token: " + e.reason }

func (e *refused) Is(target error) bool {
	return target == ErrInvalidToken || (e.expired && target == ErrExpired)
}

func refuse(reason string) error { return &refused{reason: reason} }

// errUnknownKey is a kid the key set does not hold, even after a refetch
// (or while another is not yet allowed).
var errUnknownKey = refuse("unknown key (kid)")

// algorithms are those keel signs access tokens with. HS256 is not one:
// a token signed with a shared secret cannot be checked from public keys,
// and accepting it would let anyone sign with a public key's bytes.
var algorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256}

// tokenClaims are keel's claims beyond the registered ones.
type tokenClaims struct {
	SessionID string   `json:"sid"`
	AAL       string   `json:"aal"`
	AMR       []string `json:"amr"`
	Roles     []string `json:"roles"`
}

// Verify checks rawToken (the bearer token, without "Bearer ") and returns
// its claims. It refuses, with an error matching ErrInvalidToken, any token
// that is not a keel access token for this Verifier's issuer and audience
// signed by one of the issuer's published keys with that key's algorithm,
// and one that has expired (ErrExpired too). ctx bounds a fetch of the key
// set, when the token needs one.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Claims, error) {
	tok, err := jwt.ParseSigned(rawToken, algorithms)
	if err != nil {
		// Also "none", HS256 and any algorithm not listed.
		return nil, refuse("not a JWS signed with EdDSA, ES256 or RS256")
	}
	if len(tok.Headers) != 1 {
		return nil, refuse("not one signature")
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	// RFC 9068 §4: typ is compared case-insensitively, and may carry the
	// "application/" prefix.
	if strings.TrimPrefix(strings.ToLower(typ), "application/") != "at+jwt" {
		return nil, refuse("typ is not at+jwt")
	}
	if h.KeyID == "" {
		return nil, refuse("no kid")
	}
	key, err := v.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	// Each key verifies with one algorithm, its own (RFC 8725 §3.1).
	if h.Algorithm != key.alg {
		return nil, refuse("alg " + h.Algorithm + " is not its key's (" + key.alg + ")")
	}
	var std jwt.Claims
	var own tokenClaims
	var raw map[string]any
	if err := tok.Claims(key.key, &std, &own, &raw); err != nil {
		return nil, refuse("bad signature or claims")
	}
	switch {
	case std.Expiry == nil:
		return nil, refuse("no exp")
	case std.IssuedAt == nil:
		return nil, refuse("no iat")
	case std.Subject == "":
		return nil, refuse("no sub")
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.issuer,
		AnyAudience: jwt.Audience{v.audience},
		Time:        v.now(),
	}, v.leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, &refused{reason: "expired", expired: true}
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, refuse("iss is not " + v.issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, refuse("aud does not contain " + v.audience)
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, refuse("issued in the future")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, refuse("not valid yet (nbf)")
	case err != nil:
		return nil, refuse("claims: " + err.Error())
	}
	return &Claims{
		Subject:   std.Subject,
		SessionID: own.SessionID,
		AAL:       own.AAL,
		AMR:       own.AMR,
		Roles:     own.Roles,
		IssuedAt:  std.IssuedAt.Time(),
		ExpiresAt: std.Expiry.Time(),
		Raw:       raw,
	}, nil
}
