// Package server is keel's HTTP layer: it implements the strict server
// interface generated from api/openapi.yaml (one file per spec tag, a method
// per operationId), maps every error to problem+json in one place
// (errors.go), and wires the middleware (request log, security headers,
// CORS, rate and body limits, the request validator) onto one Echo router.
// Tokens, passwords, request validation and WebSockets are in their own
// packages under internal/; cmd/keel reads the configuration and wires it all.
package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/claims"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
	"github.com/keelhq/keel/internal/webhooks"
	"github.com/keelhq/keel/internal/ws"
)

// Config is what the HTTP layer needs; cmd/keel reads the environment.
type Config struct {
	BodyLimit            int64
	AuthRateLimit        int // per minute per client address; 0 is off
	CORSOrigins          []string
	TrustedProxies       []*net.IPNet
	RefreshTTL           time.Duration
	RefreshReuseInterval time.Duration
	// RedirectURLs are where a provider sign-in may send the browser back
	// to (OAUTH_REDIRECT_URLS), compared exactly.
	RedirectURLs []string
	// MFAIssuer names keel in authenticator apps (MFA_ISSUER; "keel" when empty).
	MFAIssuer string
	// MFAMaxFailures is how many wrong TOTP codes in a row lock an account's
	// factor (MFA_MAX_FAILURES); 0 is the default (10), like the other
	// bounds here, and a negative number never locks.
	MFAMaxFailures int
	// RecheckInterval is how often Watch asks the database which sessions
	// of the open WebSockets still live (WS_RECHECK_INTERVAL);
	// DefaultRecheckInterval when zero.
	RecheckInterval time.Duration
	// AAL2MaxAge is how long a session stays aal2 after its second factor
	// (AAL2_MAX_AGE), SessionMaxAge how long any session lives from its
	// start (SESSION_MAX_AGE), MFAPendingTTL how long a session may wait for
	// its second factor (MFA_PENDING_TTL); levels.go's defaults when zero.
	AAL2MaxAge, SessionMaxAge, MFAPendingTTL time.Duration
	// ReauthMaxAge is how old a session's last proof of its user may be for
	// the operations that change the account's ways in (REAUTH_MAX_AGE);
	// DefaultReauthMaxAge when zero.
	ReauthMaxAge time.Duration
	// Issuer is keel's public base URL (API_URL): the iss of its access
	// tokens and the base of the discovery document's URLs.
	Issuer string
	// JWKSMaxAge is how long verifiers may cache the JWKS and the discovery
	// document (JWKS_MAX_AGE); DefaultJWKSMaxAge when zero.
	JWKSMaxAge time.Duration
	// AppMetadataClaims are the app_metadata keys access tokens carry
	// beside roles (JWT_CLAIMS_FROM_APP_METADATA).
	AppMetadataClaims claims.Names
	// DynamicRegistration turns on RFC 7591 registration at POST
	// /oauth2/register (OP_DYNAMIC_REGISTRATION); off, it is a 404.
	DynamicRegistration bool
	// DCRInitialAccessToken, when set, lets a registration that sends it as
	// a bearer token register a confidential client
	// (OP_DCR_INITIAL_ACCESS_TOKEN).
	DCRInitialAccessToken string
	// WebhooksAllowPrivate lets webhook endpoints be http and on private
	// addresses (WEBHOOKS_ALLOW_PRIVATE); WebhooksRotationOverlap is how
	// long a rotated-out secret keeps signing (WEBHOOKS_ROTATION_OVERLAP).
	WebhooksAllowPrivate    bool
	WebhooksRotationOverlap time.Duration
	// AdminUsersScan is how many users a page of GET /admin/users with
	// filters reads at most (db.DefaultUserScan when zero). Not a setting:
	// tests make it small, to see its short pages.
	AdminUsersScan int
}

// Deps are the Server's collaborators, built by the caller.
type Deps struct {
	Log    *slog.Logger
	Store  db.Store
	Tokens *token.Issuer
	// Refresh makes and checks refresh tokens (JWT_SECRET, and
	// JWT_SECRET_PREVIOUS while a change of secret settles).
	Refresh   *token.Refresher
	Passwords *password.Pool
	Now       func() time.Time // time.Now when nil
	// Providers are the OpenID Connect providers users may sign in with
	// (none: sign-in with providers answers 404).
	Providers oidc.Providers
	// MFA seals TOTP secrets and hashes recovery codes (MFA_KEY or JWT_SECRET).
	MFA *mfa.Keys
	// Passkeys is the WebAuthn relying party (WEBAUTHN_*); nil: passkeys are
	// off, and their ceremonies answer 404.
	Passkeys *passkey.RP
	// Keys publishes the signing keys (internal/keys.Ring); nil on an
	// install still signing with HS256, whose JWKS is empty.
	Keys PublishedKeys
	// Clients is the OAuth client registry (internal/clients), where
	// dynamic registration stores the clients it registers; the Store when
	// nil (both adapters keep it).
	Clients clients.Store
	// Provider is keel as an OpenID Provider (internal/provider); nil: its
	// endpoints answer 404.
	Provider *provider.Provider
}

// Jobs inserts the jobs requests cause (emails): internal/jobs' Engine.
type Jobs interface {
	// VerifyEmailTx inserts the verification email in tx, the transaction
	// that creates the user.
	VerifyEmailTx(ctx context.Context, tx *sql.Tx, userID int64) error
	VerifyEmail(ctx context.Context, userID int64) error
	ResetPassword(ctx context.Context, email string) error
	// NotifyTx inserts, in tx, the transaction of a change to how the
	// account is signed in to, the mail that tells its owner, fed by the
	// change's event ev, recorded in tx with id eventID.
	NotifyTx(ctx context.Context, tx *sql.Tx, eventID int64, ev db.Event) error
	// InviteTx inserts, in tx, the transaction that creates an account an
	// admin invites, the mail with its set-password link.
	InviteTx(ctx context.Context, tx *sql.Tx, userID int64) error
	// ResendWebhookTx queues a webhook delivery again, in tx, the
	// transaction that counts the resend.
	ResendWebhookTx(ctx context.Context, tx *sql.Tx, d webhooks.Delivery) error
}

// Server is keel's API. It satisfies the generated strict interface; its
// methods are thin converters between the generated request and response
// types and the store.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     db.Store
	passwords *password.Pool
	tokens    *token.Issuer
	refresh   *token.Refresher
	mfa       *mfa.Keys
	passkeys  *passkey.RP
	keys      PublishedKeys
	clients   clients.Store
	// op is keel as an OpenID Provider (provider.go); nil when it is not.
	op      *provider.Provider
	metrics *metrics
	// failedSignIns caps the failed sign-ins recorded a second
	// (server/events.go).
	failedSignIns *rate.Limiter
	now           func() time.Time
	// queue inserts the jobs requests cause; set by UseJobs.
	queue Jobs

	// providers and redirects serve sign-in with providers (oauth.go).
	providers oidc.Providers
	redirects map[string]struct{}

	// sockets are the held WebSockets, which Close says goodbye to.
	sockets ws.Registry
	// places are the store places of the sockets (socket_places.go);
	// replica names this Server's in them.
	places  socketPlaces
	replica string
	// watching is closed once Watch hears of sessions ending (live.go).
	watching     chan struct{}
	watchingOnce sync.Once

	echo *echo.Echo
	// ops is the spec's operations, read once; allow each route's methods,
	// from the same table.
	ops       validate.Operations
	allow     map[string]string
	validator *validate.Validator
}

var _ oapi.StrictServerInterface = (*Server)(nil)

// New builds the API over an open store (db/sqlite or db/postgres).
func New(cfg Config, deps Deps) *Server {
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		log:       deps.Log,
		store:     deps.Store,
		passwords: deps.Passwords,
		tokens:    deps.Tokens,
		refresh:   deps.Refresh,
		mfa:       deps.MFA,
		passkeys:  deps.Passkeys,
		keys:      deps.Keys,
		op:        deps.Provider,
		now:       now,
		providers: deps.Providers,
		redirects: make(map[string]struct{}, len(cfg.RedirectURLs)),
		watching:  make(chan struct{}),
		replica:   rand.Text(),
	}
	for _, u := range cfg.RedirectURLs {
		s.redirects[u] = struct{}{}
	}
	s.clients = deps.Clients
	if s.clients == nil {
		s.clients, _ = deps.Store.(clients.Store)
	}
	if s.clients == nil && cfg.DynamicRegistration {
		panic("server: dynamic registration needs Deps.Clients")
	}
	if s.mfa == nil {
		panic("server: Deps.MFA is nil")
	}
	if s.refresh == nil {
		panic("server: Deps.Refresh is nil")
	}
	s.metrics = newMetrics(s.passwords.QueueDepth)
	s.failedSignIns = rate.NewLimiter(failedSignInsPerSecond, failedSignInsBurst)
	s.echo = s.routes()
	if s.keys != nil {
		// A revoked key's tokens are refused, and the sockets they opened
		// close, within a second of the revocation on every replica.
		s.keys.OnChange(func() { s.sockets.EndKeys(s.keys.Published) })
	}
	return s
}

// UseJobs gives the Server the job engine, through which requests insert the
// jobs they cause (in their own transaction where they change anything).
// Call it before serving: the engine is built after the Server because it
// registers its metrics on the Server's registry.
func (s *Server) UseJobs(j Jobs) { s.queue = j }

func (s *Server) jobs() Jobs {
	if s.queue == nil {
		panic("server: UseJobs was not called")
	}
	return s.queue
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Close tells open WebSockets the server is going away (close code 1001) and
// waits for their close handshakes to finish, or for ctx to end. Call it after
// http.Server.Shutdown, which does not track hijacked connections.
func (s *Server) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.sockets.CloseAll(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
