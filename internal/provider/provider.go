package provider

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/claims"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/token"
)

// The paths of the provider's endpoints, under keel's API_URL. pkg/op serves
// them; keel serves the discovery document and the keys itself.
const (
	PathAuthorize  = "/oauth2/authorize"
	PathCallback   = "/oauth2/authorize/callback"
	PathToken      = "/oauth2/token"
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"
	PathUserinfo   = "/oauth2/userinfo"
	PathEndSession = "/oauth2/end_session"
	// PathDeviceAuthorization is RFC 8628's device authorization endpoint.
	PathDeviceAuthorization = "/oauth2/device_authorization"
	// PathDevice is where the user enters a device's user code: the
	// default OP_DEVICE_URL, and keel's API for it (GET and POST).
	PathDevice = "/oauth2/device"
	// PathLogin is keel's own sign-in page for the login step, the default
	// OP_LOGIN_URL.
	PathLogin = "/oauth2/login"
	// pathKeys is where pkg/op would serve the keys: nothing routes to it,
	// keel's /.well-known/jwks.json publishes them.
	pathKeys = "/oauth2/keys"
)

// The defaults of the time bounds when Config leaves them zero.
const (
	DefaultCodeTTL    = time.Minute
	DefaultRequestTTL = 10 * time.Minute
)

// Scopes are the scopes the provider knows; a client is given those of
// them it is registered for.
var Scopes = []string{clients.ScopeOpenID, clients.ScopeProfile, clients.ScopeEmail, clients.ScopeOfflineAccess}

// Config is the provider's configuration; cmd/keel reads it from the
// environment.
type Config struct {
	// Issuer is API_URL: the iss of the ID tokens and access tokens, and the
	// base of every endpoint's URL.
	Issuer string
	// LoginURL is where authorize sends the browser for the login step
	// (OP_LOGIN_URL), with ?request_id=…; a path is under Issuer.
	// PathLogin when empty.
	LoginURL string
	// CodeTTL is how long a code may wait for its exchange (OP_CODE_TTL),
	// RequestTTL how long the login step may take (OP_REQUEST_TTL).
	CodeTTL, RequestTTL time.Duration
	// DeviceURL is the device grant's verification_uri (OP_DEVICE_URL), a
	// path under Issuer or a URL; PathDevice when empty. DeviceCodeTTL is
	// how long a device code lives (OP_DEVICE_CODE_TTL), DeviceInterval
	// the least time between its polls (OP_DEVICE_INTERVAL).
	DeviceURL                     string
	DeviceCodeTTL, DeviceInterval time.Duration
	// AccessTTL is the lifetime of access and ID tokens (JWT_TTL).
	AccessTTL time.Duration
	// RefreshTTL, SessionMaxAge and RefreshReuseInterval bound a grant's
	// refresh tokens as they bound keel's own (REFRESH_TTL,
	// SESSION_MAX_AGE, REFRESH_REUSE_INTERVAL).
	RefreshTTL, SessionMaxAge, RefreshReuseInterval time.Duration
	// CryptoKey encrypts what pkg/op keeps opaque (derived from KEYS_KEK).
	CryptoKey [32]byte
	// Insecure lets the issuer be http (API_URL on loopback, and tests).
	Insecure bool
	// KeelAudience is JWT_AUDIENCE: no client's token may name it
	// (resource.go).
	KeelAudience string
	// AppMetadataClaims are the app_metadata keys ID tokens, userinfo and
	// grants' access tokens carry beside roles (JWT_CLAIMS_FROM_APP_METADATA).
	AppMetadataClaims claims.Names
}

// Keys is the signing key set (internal/keys.Ring): the provider signs with
// its current RS256 key and verifies with the published ones.
type Keys interface {
	SignerFor(alg string) (kid string, key crypto.Signer, ok bool)
	JWKS() []byte
}

// Deps are the provider's collaborators.
type Deps struct {
	Store Store
	// Devices keeps the device grant's codes; Store's, when it has them,
	// if nil.
	Devices  DeviceStore
	Accounts db.Store
	Clients  clients.Store
	Keys     Keys
	Refresh  *token.Refresher
	// Tokens verifies keel's own access tokens, which introspection
	// answers for too (introspect.go); nil: they are inactive there.
	Tokens KeelTokens
	Log    *slog.Logger
	Now    func() time.Time
}

// Provider is keel's OpenID Provider.
type Provider struct {
	cfg      Config
	store    Store
	devices  DeviceStore
	accounts db.Store
	clients  clients.Store
	keys     Keys
	refresh  *token.Refresher
	tokens   KeelTokens
	log      *slog.Logger
	now      func() time.Time

	op        *op.Provider
	authorize http.Handler
}

// New builds the provider.
func New(cfg Config, deps Deps) (*Provider, error) {
	if deps.Store == nil || deps.Accounts == nil || deps.Clients == nil || deps.Keys == nil || deps.Refresh == nil {
		return nil, errors.New("provider: missing dependency")
	}
	cfg.CodeTTL = cmp.Or(cfg.CodeTTL, DefaultCodeTTL)
	cfg.RequestTTL = cmp.Or(cfg.RequestTTL, DefaultRequestTTL)
	cfg.DeviceCodeTTL = cmp.Or(cfg.DeviceCodeTTL, DefaultDeviceCodeTTL)
	cfg.DeviceInterval = cmp.Or(cfg.DeviceInterval, DefaultDeviceInterval)
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if deps.Devices == nil {
		deps.Devices, _ = deps.Store.(DeviceStore)
	}
	if deps.Devices == nil {
		return nil, errors.New("provider: missing dependency")
	}
	p := &Provider{cfg: cfg, store: deps.Store, devices: deps.Devices, accounts: deps.Accounts, clients: deps.Clients, keys: deps.Keys,
		refresh: deps.Refresh, tokens: deps.Tokens, log: deps.Log, now: deps.Now}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	opts := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(PathAuthorize)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(PathToken)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(PathRevoke)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(PathUserinfo)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(PathEndSession)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(pathKeys)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(PathDeviceAuthorization)),
		op.WithLogger(p.log),
	}
	if cfg.Insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(&op.Config{
		CryptoKey:                cfg.CryptoKey,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: cfg.Issuer + "/",
		SupportedScopes:          Scopes,
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: cfg.DeviceCodeTTL, PollInterval: cfg.DeviceInterval,
			UserFormURL: p.deviceURL(), UserCode: op.UserCodeBase20,
		},
	}, &storage{p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	p.op = o
	a := &authorizer{Provider: o, p: p}
	p.authorize = op.NewIssuerInterceptor(o.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op.Authorize(w, r, a)
	})
	return p, nil
}

// ServeHTTP serves the protocol endpoints (the Path constants but
// PathLogin): the authorize endpoint through keel's own checks first
// (authorize.go), the others as pkg/op serves them.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathAuthorize:
		// A refused resource goes back to the client once it is known
		// good: authorize.go's check reads it from the context.
		if req, err := p.withResource(r); err == nil {
			r = req
		} else {
			r = r.WithContext(context.WithValue(r.Context(), resourceErrKey{}, err))
		}
		p.authorize.ServeHTTP(w, r)
		return
	case PathToken:
		req, err := p.withResource(r)
		if err != nil {
			httphelper.MarshalJSONWithStatus(w, err, http.StatusBadRequest)
			return
		}
		r = withDeviceGrant(req)
	case PathDeviceAuthorization:
		p.serveDeviceAuthorization(w, r)
		return
	case PathRevoke:
		w = emptyOK{w}
	case PathIntrospect:
		p.introspect(w, r)
		return
	case PathEndSession:
		// pkg/op answers a form it cannot parse with a 500; it is the
		// client's mistake.
		if err := r.ParseForm(); err != nil {
			httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("the request is not a valid form"), http.StatusBadRequest)
			return
		}
		if err := p.checkPostLogout(r); err != nil {
			httphelper.MarshalJSONWithStatus(w, err, http.StatusBadRequest)
			return
		}
	}
	p.op.ServeHTTP(w, r)
}

// emptyOK drops the Content-Type pkg/op puts on revocation's 200, which has
// no body (RFC 7009 §2.2): a JSON label on nothing misleads clients.
type emptyOK struct{ http.ResponseWriter }

func (w emptyOK) WriteHeader(code int) {
	if code == http.StatusOK {
		w.Header().Del("Content-Type")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Issuer is the provider's issuer (API_URL).
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// loginURL is where the browser goes for the login step of request id.
func (p *Provider) loginURL(id string) string {
	u := cmp.Or(p.cfg.LoginURL, PathLogin)
	if strings.HasPrefix(u, "/") {
		u = p.cfg.Issuer + u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "request_id=" + id
}

// endGrant ends the grant's session sid (a code used twice, a refresh token
// reused), and logs why.
func (p *Provider) endGrant(ctx context.Context, sid, why string) {
	if sid == "" {
		return
	}
	if err := p.accounts.EndSession(ctx, sid); err != nil {
		p.log.LogAttrs(ctx, slog.LevelError, "ending a grant", slog.String("error", err.Error()))
		return
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "grant ended", slog.String("reason", why))
}

// refreshExpiry is when a grant's refresh token issued at now expires:
// REFRESH_TTL from now, never past the session's SESSION_MAX_AGE.
func (p *Provider) refreshExpiry(created, now time.Time) time.Time {
	exp := now.Add(p.cfg.RefreshTTL)
	if p.cfg.SessionMaxAge > 0 {
		if end := created.Add(p.cfg.SessionMaxAge); end.Before(exp) {
			return end
		}
	}
	return exp
}
