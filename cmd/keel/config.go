package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/internal/claims"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/mail"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/server"
)

// config is keel's whole configuration. It is read once from the environment by
// loadConfig; every field has a default that lets `make run` work with no setup.
type config struct {
	Addr       string        // ADDR: where to listen
	Database   databaseURL   // DATABASE_URL: a SQLite file or a PostgreSQL URL
	DBMaxConns int           // DB_MAX_CONNS: PostgreSQL connections per replica
	JWTSecret  []byte        // JWT_SECRET: empty means "use or create one in the data directory"
	JWTTTL     time.Duration // JWT_TTL: access token lifetime
	// JWT_ALG: the access tokens' algorithm (empty: the current key's, or
	// the default: see signingAlg); KEYS_KEK: what private keys are sealed
	// under (empty: kept in the data directory with SQLite); JWT_AUDIENCE:
	// the tokens' aud.
	JWTAlg, JWTAudience string
	KeysKEK             []byte
	// JWT_CLAIMS_FROM_APP_METADATA: the app_metadata keys tokens carry as
	// claims, beside roles (internal/claims).
	ClaimsFromAppMetadata claims.Names
	// JWKS_MAX_AGE: how long verifiers may cache the keys; KEYS_ROTATE_EVERY:
	// how long a key signs before the next is made (0: never on a schedule).
	JWKSMaxAge, KeysRotateEvery time.Duration
	// REFRESH_TTL: refresh token lifetime; REFRESH_REUSE_INTERVAL: how long the
	// refresh token just replaced still gets the current pair (0: never).
	RefreshTTL, RefreshReuseInterval time.Duration
	// SESSION_MAX_AGE: a session's absolute lifetime; AAL2_MAX_AGE: how long
	// it stays aal2 after a second factor; MFA_PENDING_TTL: how long it may
	// wait for its second factor.
	SessionMaxAge, AAL2MaxAge, MFAPendingTTL time.Duration
	ResetTTL                                 time.Duration // RESET_TTL: how long a password reset token works
	InviteTTL                                time.Duration // INVITE_TTL: how long an invitation's set-password link works
	AuditRetention                           time.Duration // AUDIT_RETENTION: how long events are kept
	VerifyTTL                                time.Duration // VERIFY_TTL: how long an email verification token works
	BcryptCost                               int           // BCRYPT_COST
	JobInterval                              time.Duration // JOB_INTERVAL: how often the scheduled job runs
	LogLevel                                 slog.Level    // LOG_LEVEL: debug, info, warn, error
	LogFormat                                string        // LOG_FORMAT: json or text
	ShutdownTimeout                          time.Duration // SHUTDOWN_TIMEOUT: how long in-flight requests get on shutdown
	WSRecheckInterval                        time.Duration // WS_RECHECK_INTERVAL: how often WebSockets' sessions are re-checked

	BodyLimit         int64         // BODY_LIMIT: largest request body in bytes
	AuthRateLimit     int           // AUTH_RATE_LIMIT: /login and /register requests per minute per IP; 0 is off
	HashWorkers       int           // HASH_WORKERS: bcrypt runs at once
	HashQueue         int           // HASH_QUEUE: bcrypt requests that may wait for a worker
	CORSOrigins       []string      // CORS_ORIGINS: origins allowed to call from a browser; none by default
	TLSCert, TLSKey   string        // TLS_CERT, TLS_KEY: serve HTTPS (and send HSTS) when both are set
	ReadHeaderTimeout time.Duration // READ_HEADER_TIMEOUT: how long a client may take to send its headers
	PprofAddr         string        // PPROF_ADDR: loopback address for net/http/pprof; empty is off
	TrustedProxies    []*net.IPNet  // TRUSTED_PROXIES: proxies whose X-Forwarded-For names the client

	SMTPURL   string // SMTP_URL: where emails go; empty writes them to the log. May hold a password: never print it
	MailFrom  string // MAIL_FROM: the From of every email, normalised ("keel <noreply@localhost>")
	PublicURL string // PUBLIC_URL: the base of links in emails, without a trailing slash

	// OIDC_PROVIDERS and OIDC_<NAME>_*: the OpenID Connect providers users may
	// sign in with (discovered at start); API_URL: keel's own public base URL
	// (the providers' callbacks); OAUTH_REDIRECT_URLS: where a sign-in may
	// send the browser back to.
	OIDCProviders []oidc.Config
	APIURL        string
	RedirectURLs  []string
	// apiURLUnset: API_URL was not set, and APIURL is the local default.
	apiURLUnset bool

	MFAIssuer      string // MFA_ISSUER: names keel in authenticator apps
	MFAMaxFailures int    // MFA_MAX_FAILURES: wrong TOTP codes in a row that lock a factor; 0 never locks
	MFAKey         []byte // MFA_KEY: seals TOTP secrets and keys recovery-code hashes; empty means JWT_SECRET's
	MFAKeyPrevious []byte // MFA_KEY_PREVIOUS: the MFA_KEY before, whose sealed secrets and recovery codes still work
	// REAUTH_MAX_AGE: how old a session's last proof of its user may be for
	// changes to the account's ways in (passkeys, factors, identities).
	ReauthMaxAge time.Duration
	// OP_LOGIN_URL: where the OpenID Provider's authorize sends the browser
	// for the login step; OP_CODE_TTL: how long its codes work;
	// OP_REQUEST_TTL: how long its login step may take (docs/provider.md).
	OPLoginURL              string
	OPCodeTTL, OPRequestTTL time.Duration
	// OP_DEVICE_URL: the device grant's verification_uri, where the user
	// enters a device's user code; OP_DEVICE_CODE_TTL: how long a device
	// code lives; OP_DEVICE_INTERVAL: the least time between its polls.
	OPDeviceURL                       string
	OPDeviceCodeTTL, OPDeviceInterval time.Duration

	// WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS: the passkeys'
	// relying party; passkeys are off while WEBAUTHN_RP_ID is unset.
	Passkeys passkey.Config

	// JWT_SECRET_PREVIOUS: the secret before JWT_SECRET, whose refresh tokens
	// (and, without MFA_KEY, factors) still work while a change settles.
	JWTSecretPrevious []byte

	// OP_DYNAMIC_REGISTRATION: RFC 7591 registration at POST
	// /oauth2/register; OP_DCR_INITIAL_ACCESS_TOKEN: the bearer token that
	// lets it register a confidential client (never printed); OP_DCR_IDLE_DAYS:
	// how long a registered client may go unused before it is deleted.
	DynamicRegistration   bool
	DCRInitialAccessToken string
	DCRIdle               time.Duration

	// WEBHOOKS_*: outgoing webhooks (docs/webhooks.md).
	Webhooks webhookSettings
}

// webhookSettings are the WEBHOOKS_* settings.
type webhookSettings struct {
	AllowPrivate    bool          // WEBHOOKS_ALLOW_PRIVATE: deliveries may reach loopback and private addresses
	Timeout         time.Duration // WEBHOOKS_TIMEOUT: one attempt's limit
	RetryMin        time.Duration // WEBHOOKS_RETRY_MIN: the wait before the first retry, doubling after
	RetryFor        time.Duration // WEBHOOKS_RETRY_FOR: how long a delivery is retried
	DisableAfter    time.Duration // WEBHOOKS_DISABLE_AFTER: how long an endpoint may fail before it is disabled
	RotationOverlap time.Duration // WEBHOOKS_ROTATION_OVERLAP: how long a rotated-out secret keeps signing
	Workers         int           // WEBHOOKS_WORKERS: deliveries at once per replica
}

// server is the part of the configuration the HTTP layer reads.
func (c config) server() server.Config {
	return server.Config{
		BodyLimit:            c.BodyLimit,
		AuthRateLimit:        c.AuthRateLimit,
		CORSOrigins:          c.CORSOrigins,
		TrustedProxies:       c.TrustedProxies,
		RefreshTTL:           c.RefreshTTL,
		RefreshReuseInterval: c.RefreshReuseInterval,
		RedirectURLs:         c.RedirectURLs,
		MFAIssuer:            c.MFAIssuer,
		MFAMaxFailures:       cmp.Or(c.MFAMaxFailures, -1), // 0 is off here, the default there
		RecheckInterval:      c.WSRecheckInterval,
		SessionMaxAge:        c.SessionMaxAge,
		AAL2MaxAge:           c.AAL2MaxAge,
		MFAPendingTTL:        c.MFAPendingTTL,
		ReauthMaxAge:         c.ReauthMaxAge,
		Issuer:               c.APIURL,
		JWKSMaxAge:           c.JWKSMaxAge,
		AppMetadataClaims:    c.ClaimsFromAppMetadata,

		DynamicRegistration:   c.DynamicRegistration,
		DCRInitialAccessToken: c.DCRInitialAccessToken,

		WebhooksAllowPrivate:    c.Webhooks.AllowPrivate,
		WebhooksRotationOverlap: c.Webhooks.RotationOverlap,
	}
}

// setting describes one environment variable keel reads, for --help and docs/configuration.md.
type setting struct {
	Name, Default, Meaning string
}

// settings lists every environment variable loadConfig reads, in the order of
// docs/configuration.md's table.
var settings = []setting{
	{"ADDR", ":8080", "address to listen on"},
	{"DATABASE_URL", "data/keel.db", "postgres:// or postgresql:// URL for PostgreSQL; anything else is a SQLite file path (or file:/sqlite: URL), whose folder is created"},
	{"DB_MAX_CONNS", "10", "PostgreSQL connections per replica (the pool's size, at least 2); unused with SQLite"},
	{"JWT_SECRET", "(generated)", "at least 32 bytes: refresh tokens are derived with it, and access tokens signed with it (HS256) only on an install that has not switched to JWT_ALG; required with PostgreSQL (every replica the same); with SQLite, when unset, a random one is kept in <data dir>/jwt_secret (mode 0600)"},
	{"JWT_SECRET_PREVIOUS", "", "the JWT_SECRET before the current one (in the first roll of a rolling change, the one after it), while a change of secret settles (docs/tokens.md): refresh tokens made under it are still accepted (and replaced by ones under JWT_SECRET), and without MFA_KEY TOTP secrets sealed and recovery codes hashed under it still work; at least 32 bytes, not JWT_SECRET, requires JWT_SECRET. Remove it REFRESH_TTL after the change, once keel secrets reseal has run"},
	{"JWT_ALG", "(the current key's, else EdDSA)", "how access tokens are signed: EdDSA (Ed25519), ES256, RS256 (2048-bit), or HS256 with JWT_SECRET; unset keeps the current key's algorithm, and an install with users and no signing key stays on HS256 (with a warning) until it is set: see docs/tokens.md"},
	{"KEYS_KEK", "(generated with SQLite)", "at least 32 bytes: the key the signing keys' private halves are sealed under (AES-256-GCM), never JWT_SECRET; required with PostgreSQL unless JWT_ALG=HS256 (the same on every replica); with SQLite, when unset, a random one is kept in <data dir>/keys_kek (mode 0600)"},
	{"JWT_AUDIENCE", "keel", "the aud of keel's access tokens; keel's API refuses a token for another audience; not beginning with kc_ (OAuth client ids do)"},
	{"JWT_CLAIMS_FROM_APP_METADATA", "", "app_metadata keys, separated by commas, that access and ID tokens carry as claims of the same name beside roles (app_metadata.roles), from the next token issued; none may be a claim keel sets or a registered one (sub, aud, scope, email, roles, ...): docs/tokens.md"},
	{"JWKS_MAX_AGE", "5m", "how long verifiers may cache GET /.well-known/jwks.json (its Cache-Control max-age); a next key is published this long before it signs"},
	{"KEYS_ROTATE_EVERY", "0s", "how long a signing key signs before keel makes the next one (which signs JWKS_MAX_AGE later); 0 rotates only on `keel keys rotate`"},
	{"JWT_TTL", "15m", "access token lifetime (Go duration); an ended session's tokens are refused at once anyway"},
	{"REFRESH_TTL", "720h", "refresh token lifetime (30 days); each refresh starts it again"},
	{"REFRESH_REUSE_INTERVAL", "0s", "how long the refresh token just replaced may be presented again and get the current pair (concurrent refreshes from browser tabs); 0 is strict: any reuse ends the session"},
	{"SESSION_MAX_AGE", "720h", "a session's absolute lifetime (30 days) from its login, however often it is refreshed: then its refresh and its access tokens are refused, and the user logs in again"},
	{"AAL2_MAX_AGE", "12h", "how long a session stays aal2 after its second factor; then it is aal1 again (its tokens get 401, the refreshed ones ask for a code: POST /mfa/verify)"},
	{"MFA_PENDING_TTL", "10m", "how long a session waiting for its second factor (aal1, of an account with a verified factor) lives; it is not refreshed until POST /mfa/verify raises it"},
	{"RESET_TTL", "30m", "how long a password reset token works"},
	{"INVITE_TTL", "72h", "how long the set-password link of an invitation (POST /admin/users with invite) works"},
	{"AUDIT_RETENTION", "2160h", "how long events (the audit trail, GET /admin/audit and GET /profile/activity) are kept (90 days): a job deletes older ones, in batches, every 10 minutes, once per cluster"},
	{"VERIFY_TTL", "24h", "how long an email verification token works"},
	{"BCRYPT_COST", "10", "bcrypt cost, 4 to 31"},
	{"JOB_INTERVAL", "5s", "how often the scheduled job runs"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "json", "json, or text for people"},
	{"SHUTDOWN_TIMEOUT", "10s", "how long in-flight requests may take to finish on SIGINT/SIGTERM"},
	{"WS_RECHECK_INTERVAL", "30s", "how often each replica asks the database which sessions of its authenticated WebSockets still live, closing the others (a safety net: an ended session closes its sockets at once)"},
	{"BODY_LIMIT", "65536", "largest request body in bytes (suffixes KiB and MiB allowed); larger gets 413"},
	{"AUTH_RATE_LIMIT", "10", "requests per minute per client IP to each operation marked x-keel-rate-limit in the spec (login, register, password reset, email verification, password change, account deletion, provider sign-in, the OpenID Provider's authorize and device authorization; token bucket); 0 turns it off"},
	{"HASH_WORKERS", "(one per CPU)", "bcrypt hashes computed at once"},
	{"HASH_QUEUE", "64", "bcrypt requests that may wait for a worker; past that, 503 with Retry-After"},
	{"CORS_ORIGINS", "", "comma-separated origins (https://app.example.com) allowed to call keel from a browser; empty is CORS off"},
	{"TLS_CERT", "", "PEM certificate file; with TLS_KEY, keel serves HTTPS and sends HSTS"},
	{"TLS_KEY", "", "PEM private key file for TLS_CERT"},
	{"READ_HEADER_TIMEOUT", "5s", "how long a client may take to send its request headers"},
	{"PPROF_ADDR", "", "opt-in pprof listener on a loopback address such as 127.0.0.1:6060; empty is off"},
	{"TRUSTED_PROXIES", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-For names the client (for the rate limit and logs); empty trusts none"},
	{"SMTP_URL", "", "smtp://user:password@host:587 (STARTTLS when the server offers it) or smtps://user:password@host:465 (implicit TLS); empty writes emails to the log instead"},
	{"MAIL_FROM", "keel <noreply@localhost>", "the From address of keel's emails"},
	{"OIDC_PROVIDERS", "", "comma-separated names of OpenID Connect providers users may sign in with (google,corp: lower-case letters, digits, - and _); each needs the four settings below; empty is sign-in with providers off"},
	{"OIDC_<NAME>_ISSUER", "", "the provider's issuer URL, from which keel reads its discovery document at start (https://accounts.google.com; http only on a loopback host)"},
	{"OIDC_<NAME>_CLIENT_ID", "", "the client id the provider gave keel"},
	{"OIDC_<NAME>_CLIENT_SECRET", "", "the client secret the provider gave keel (never printed)"},
	{"OIDC_<NAME>_SCOPES", "openid email profile", "space- or comma-separated scopes to ask for; openid is always asked for"},
	{"OIDC_<NAME>_TRUSTED_AUDIENCES", "", "comma-separated audiences besides the client id that the provider's ID tokens may name; by default an ID token for anyone else too is refused"},
	{"OIDC_<NAME>_LINK_BY_EMAIL", "false", "true lets a sign-in whose provider says it verified the email sign in to the keel account with that email, linking the provider account to it (an account whose address was unverified is first cleared of its password, sessions, factors, passkeys and identities); false answers account_exists and the user links from the profile"},
	{"API_URL", "(http://localhost:<ADDR's port>)", "keel's own public base URL (https://api.example.com): the iss of its access tokens and the issuer verifiers are configured with; required with OIDC_PROVIDERS: each provider's callback is API_URL/oauth/<name>/callback; http only on a loopback host"},
	{"OAUTH_REDIRECT_URLS", "", "comma-separated absolute URLs of your app where a provider sign-in may send the browser back (with ?code= or ?error=), compared exactly; http only on a loopback host; required with OIDC_PROVIDERS"},
	{"PUBLIC_URL", "http://localhost:8080", "the base of the links in emails: your app's address, which serves /verify-email?token=… and /reset-password?token=… and posts the token to POST /email/verify or POST /password/reset (http or https, no query)"},
	{"MFA_ISSUER", "keel", "the issuer authenticator apps show for keel's TOTP factors (in the otpauth URI; no colon)"},
	{"MFA_MAX_FAILURES", "10", "wrong TOTP codes in a row (counted on every replica) after which an account's factor takes no TOTP code (403 mfa-locked) until a recovery code or the unlock link mailed to its owner; 0 never locks"},
	{"REAUTH_MAX_AGE", "10m", "how long after a session's last proof of its user (a sign-in, POST /mfa/verify, a password change, POST /reauthenticate) it may register or remove a passkey, enroll or remove a TOTP factor, renew recovery codes, or link or unlink a provider account; at least 1s"},
	{"OP_LOGIN_URL", "/oauth2/login", "where keel as an OpenID Provider sends the browser for the login step, with ?request_id=… (docs/provider.md): a path on API_URL (keel's own page) or your app's absolute https URL (http only on a loopback host)"},
	{"OP_CODE_TTL", "1m", "how long an authorization code of keel's OpenID Provider may wait for its exchange; at least 1s"},
	{"OP_REQUEST_TTL", "10m", "how long the login step of an authorization request to keel's OpenID Provider may take; at least 1s"},
	{"OP_DEVICE_URL", "/oauth2/device", "the device grant's verification_uri (RFC 8628), where the user enters a device's user code: a path on API_URL (keel's own page) or your app's absolute https URL (http only on a loopback host)"},
	{"OP_DEVICE_CODE_TTL", "10m", "how long a device code (and its user code) of keel's OpenID Provider lives; at least 1s"},
	{"OP_DEVICE_INTERVAL", "5s", "the least time between a device's polls of the token endpoint (a sooner poll is slow_down, and the interval grows by 5s); whole seconds, at least 1s"},
	{"WEBAUTHN_RP_ID", "", "the relying party id of passkeys: your site's host name or a registrable suffix of it (example.com, or localhost), which every WEBAUTHN_ORIGINS host must be or end with; empty is passkeys off. Changing it voids every passkey"},
	{"WEBAUTHN_RP_NAME", "keel", "the name browsers show for keel when they create a passkey"},
	{"WEBAUTHN_ORIGINS", "", "comma-separated origins of the pages that call navigator.credentials (https://app.example.com; http only on localhost); required with WEBAUTHN_RP_ID"},
	{"MFA_KEY", "(JWT_SECRET)", "at least 32 bytes: the key TOTP secrets are encrypted with (AES-256-GCM) and recovery codes hashed with (HMAC), each derived by HKDF; unset derives them from JWT_SECRET (and JWT_SECRET_PREVIOUS). Same on every replica"},
	{"MFA_KEY_PREVIOUS", "", "the MFA_KEY before the current one (in the first roll of a rolling change, the one after it), while a change of key settles (docs/tokens.md): TOTP secrets sealed under it still open until keel secrets reseal re-seals them, and recovery codes hashed under it work until their set is regenerated; at least 32 bytes, not MFA_KEY, requires MFA_KEY"},
	{"OP_DYNAMIC_REGISTRATION", "false", "true opens RFC 7591 dynamic client registration at POST /oauth2/register (agents, MCP clients; docs/provider.md): anyone may register a public client, rate-limited per address by AUTH_RATE_LIMIT; false answers it 404 and the discovery document names no registration_endpoint"},
	{"OP_DCR_INITIAL_ACCESS_TOKEN", "", "at least 32 bytes: an app that sends it to POST /oauth2/register as Authorization: Bearer may register a confidential client (with a secret); empty: dynamic registration registers public clients only. Compared in constant time, never printed"},
	{"OP_DCR_IDLE_DAYS", "30", "days a dynamically registered client may go without obtaining a token before it is deleted, and every grant it holds with it (a job, once per cluster); the operator's clients are never deleted"},
	{"WEBHOOKS_ALLOW_PRIVATE", "false", "true lets webhook endpoints be http and on loopback, private, link-local, CGNAT or unique-local addresses (development, a receiver inside your network); false refuses them at registration and at every connection (docs/webhooks.md)"},
	{"WEBHOOKS_TIMEOUT", "10s", "how long one webhook delivery attempt may take (connect, send, the answer's status); its job's timeout is 5s more"},
	{"WEBHOOKS_RETRY_MIN", "5s", "the wait before a failed webhook delivery's first retry; each next wait doubles, up to an hour"},
	{"WEBHOOKS_RETRY_FOR", "24h", "how long a webhook delivery is retried before it is marked failed (listed at GET /admin/webhooks/{id}/deliveries, resent by POST .../resend)"},
	{"WEBHOOKS_DISABLE_AFTER", "24h", "how long an endpoint's deliveries may fail without one success before the endpoint is disabled and every admin is mailed"},
	{"WEBHOOKS_ROTATION_OVERLAP", "24h", "how long a webhook secret replaced by a rotation keeps signing beside the new one (each delivery carries both signatures)"},
	{"WEBHOOKS_WORKERS", "50", "webhook deliveries (and fan-outs) one replica works at once, in the job queue webhooks (apart from the emails' queue); River fetches up to this many a tenth of a second, so it bounds throughput too"},
}

// loadConfig reads the configuration through getenv. A bad value is an error
// that names the variable (and never shows a secret), so the binary can stop
// with a clear message; every bad value is reported at once.
func loadConfig(getenv func(string) string) (config, error) {
	var cfg config
	r := &envReader{getenv: getenv}
	r.database(&cfg)
	r.auth(&cfg)
	r.http(&cfg)
	r.mail(&cfg)
	r.oidc(&cfg)
	r.mfa(&cfg)
	r.keys(&cfg)
	r.passkeys(&cfg)
	r.logging(&cfg)
	cfg.JobInterval = r.duration("JOB_INTERVAL", time.Millisecond)
	cfg.ShutdownTimeout = r.duration("SHUTDOWN_TIMEOUT", 0)
	cfg.WSRecheckInterval = r.duration("WS_RECHECK_INTERVAL", 10*time.Millisecond)
	r.dynamicRegistration(&cfg)
	r.webhooks(&cfg)
	return cfg, errors.Join(r.errs...)
}

// envReader reads settings, collecting an error per bad value.
type envReader struct {
	getenv func(string) string
	errs   []error
}

// get is the variable's value, trimmed, or its default from settings.
func (r *envReader) get(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	for _, s := range settings {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// bad records why the variable's value is refused, quoting the value unless
// it is or may hold a secret.
func (r *envReader) bad(name, why string) {
	value := fmt.Sprintf("%q", r.getenv(name))
	switch {
	case strings.HasPrefix(name, "OIDC_") && strings.HasSuffix(name, "_CLIENT_SECRET"):
		value = "(hidden)"
	}
	switch name {
	case "JWT_SECRET", "JWT_SECRET_PREVIOUS", "MFA_KEY", "MFA_KEY_PREVIOUS", "KEYS_KEK", "OP_DCR_INITIAL_ACCESS_TOKEN":
		value = "(hidden)" // never print a secret, even a bad one
	case "DATABASE_URL", "SMTP_URL", "PUBLIC_URL", "API_URL":
		value = fmt.Sprintf("%q", redactURL(r.getenv(name)))
	}
	r.errs = append(r.errs, fmt.Errorf("%s=%s: %s", name, value, why))
}

func (r *envReader) duration(name string, min time.Duration) time.Duration {
	d, err := time.ParseDuration(r.get(name))
	switch {
	case err != nil:
		r.bad(name, "not a duration such as 1h, 30s or 500ms")
	case d < min:
		r.bad(name, fmt.Sprintf("must be at least %s", min))
	}
	return d
}

func (r *envReader) number(name string, min int) int {
	n, err := strconv.Atoi(r.get(name))
	if err != nil || n < min {
		r.bad(name, fmt.Sprintf("must be a whole number, at least %d", min))
	}
	return n
}

// boolean reads true or false (strconv.ParseBool's forms); unset is false.
func (r *envReader) boolean(name string) bool {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.bad(name, "must be true or false")
	}
	return b
}

// list splits a comma-separated variable, dropping empty items.
func (r *envReader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *envReader) database(cfg *config) {
	d, err := parseDatabase(r.get("DATABASE_URL"))
	if err != nil {
		r.bad("DATABASE_URL", err.Error())
	}
	cfg.Database = d
	// Two at least: start-up migrates on one connection while another holds
	// the migration lock.
	cfg.DBMaxConns = r.number("DB_MAX_CONNS", 2)
}

func (r *envReader) auth(cfg *config) {
	if s := r.getenv("JWT_SECRET"); s != "" {
		if len(s) < token.MinSecretLen {
			r.bad("JWT_SECRET", fmt.Sprintf("must be at least %d bytes", token.MinSecretLen))
		}
		cfg.JWTSecret = []byte(s)
	} else if cfg.Database.Engine == enginePostgres {
		r.bad("JWT_SECRET", "must be set with PostgreSQL: every replica must sign tokens with the same secret")
	}
	cfg.JWTSecretPrevious = r.previous("JWT_SECRET_PREVIOUS", "JWT_SECRET", cfg.JWTSecret, token.MinSecretLen)
	cfg.JWTTTL = r.duration("JWT_TTL", time.Second)
	cfg.RefreshTTL = r.duration("REFRESH_TTL", time.Second)
	if cfg.JWTTTL > cfg.RefreshTTL {
		// An access token would outlive the session that issued it.
		r.bad("JWT_TTL", "must not be longer than REFRESH_TTL")
	}
	cfg.RefreshReuseInterval = r.duration("REFRESH_REUSE_INTERVAL", 0)
	cfg.SessionMaxAge = r.duration("SESSION_MAX_AGE", time.Second)
	cfg.AAL2MaxAge = r.duration("AAL2_MAX_AGE", time.Second)
	cfg.MFAPendingTTL = r.duration("MFA_PENDING_TTL", time.Second)
	cfg.ResetTTL = r.duration("RESET_TTL", time.Second)
	cfg.InviteTTL = r.duration("INVITE_TTL", time.Second)
	cfg.AuditRetention = r.duration("AUDIT_RETENTION", time.Hour)
	cfg.VerifyTTL = r.duration("VERIFY_TTL", time.Second)

	cost, err := strconv.Atoi(r.get("BCRYPT_COST"))
	if err != nil || cost < password.MinCost || cost > password.MaxCost {
		r.bad("BCRYPT_COST", fmt.Sprintf("must be a whole number from %d to %d", password.MinCost, password.MaxCost))
	}
	cfg.BcryptCost = cost
	cfg.HashQueue = r.number("HASH_QUEUE", 0)
	cfg.HashWorkers = runtime.GOMAXPROCS(0)
	if r.getenv("HASH_WORKERS") != "" {
		cfg.HashWorkers = r.number("HASH_WORKERS", 1)
	}
	cfg.AuthRateLimit = r.number("AUTH_RATE_LIMIT", 0)
}

func (r *envReader) http(cfg *config) {
	cfg.Addr = r.get("ADDR")
	cfg.ReadHeaderTimeout = r.duration("READ_HEADER_TIMEOUT", time.Millisecond)
	limit, err := parseBytes(r.get("BODY_LIMIT"))
	if err != nil || limit < 1024 {
		r.bad("BODY_LIMIT", "must be a size of at least 1024 bytes, such as 65536 or 64KiB")
	}
	cfg.BodyLimit = limit

	for _, o := range r.list("CORS_ORIGINS") {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			r.bad("CORS_ORIGINS", fmt.Sprintf("%q is not an origin such as https://app.example.com", o))
		}
		cfg.CORSOrigins = append(cfg.CORSOrigins, o)
	}
	for _, p := range r.list("TRUSTED_PROXIES") {
		if !strings.Contains(p, "/") {
			if ip := net.ParseIP(p); ip != nil && ip.To4() != nil {
				p += "/32"
			} else {
				p += "/128"
			}
		}
		_, ipnet, err := net.ParseCIDR(p)
		if err != nil {
			r.bad("TRUSTED_PROXIES", fmt.Sprintf("%q is not an address or CIDR such as 10.0.0.0/8", p))
			continue
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, ipnet)
	}
	cfg.TLSCert, cfg.TLSKey = r.getenv("TLS_CERT"), r.getenv("TLS_KEY")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		r.bad("TLS_CERT", "TLS_CERT and TLS_KEY must be set together")
	}
	if cfg.PprofAddr = r.getenv("PPROF_ADDR"); cfg.PprofAddr != "" && !isLoopback(cfg.PprofAddr) {
		r.bad("PPROF_ADDR", "must be a loopback address such as 127.0.0.1:6060: profiles expose internals")
	}
}

func (r *envReader) mail(cfg *config) {
	if cfg.SMTPURL = r.getenv("SMTP_URL"); cfg.SMTPURL != "" {
		if _, err := mail.ParseSMTPURL(cfg.SMTPURL); err != nil {
			r.bad("SMTP_URL", err.Error())
		}
	}
	if from, err := netmail.ParseAddress(r.get("MAIL_FROM")); err != nil {
		r.bad("MAIL_FROM", "not an email address such as noreply@example.com or \"keel <noreply@example.com>\"")
	} else {
		cfg.MailFrom = from.String()
	}
	cfg.PublicURL = strings.TrimSuffix(r.get("PUBLIC_URL"), "/")
	if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		r.bad("PUBLIC_URL", "must be an absolute http(s) URL without a query, such as https://keel.example.com")
	}
}

// providerName is a provider's name in OIDC_PROVIDERS and the URLs (the
// spec's ProviderName).
var providerName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (r *envReader) oidc(cfg *config) {
	names := r.list("OIDC_PROVIDERS")
	seen := map[string]bool{} // by prefix: my-idp and my_idp would share OIDC_MY_IDP_*
	for _, name := range names {
		prefix := "OIDC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
		if !providerName.MatchString(name) || seen[prefix] {
			r.bad("OIDC_PROVIDERS", fmt.Sprintf("%q is not a new name of lower-case letters, digits, - and _ (at most 32, a letter first; - and _ count as one)", name))
			continue
		}
		seen[prefix] = true
		c := oidc.Config{
			Name:             name,
			Issuer:           strings.TrimSpace(r.getenv(prefix + "ISSUER")),
			ClientID:         strings.TrimSpace(r.getenv(prefix + "CLIENT_ID")),
			ClientSecret:     strings.TrimSpace(r.getenv(prefix + "CLIENT_SECRET")),
			Scopes:           strings.FieldsFunc(r.getenv(prefix+"SCOPES"), func(c rune) bool { return c == ' ' || c == ',' }),
			TrustedAudiences: r.list(prefix + "TRUSTED_AUDIENCES"),
			LinkByEmail:      r.boolean(prefix + "LINK_BY_EMAIL"),
		}
		if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.bad(prefix+"ISSUER", "must be the provider's issuer URL, such as https://accounts.google.com")
		} else if !secureURL(u) {
			r.bad(prefix+"ISSUER", plainHTTP)
		}
		if c.ClientID == "" {
			r.bad(prefix+"CLIENT_ID", "must be set: the client id the provider gave keel")
		}
		if c.ClientSecret == "" {
			r.bad(prefix+"CLIENT_SECRET", "must be set: the client secret the provider gave keel")
		}
		cfg.OIDCProviders = append(cfg.OIDCProviders, c)
	}
	cfg.APIURL = strings.TrimSuffix(r.getenv("API_URL"), "/")
	if cfg.APIURL == "" && len(names) == 0 {
		cfg.APIURL, cfg.apiURLUnset = localURL(cfg.Addr), true
	} else {
		if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
			u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			r.bad("API_URL", "must be keel's public base URL, absolute http(s) without a query, such as https://api.example.com (required with OIDC_PROVIDERS)")
		} else if !secureURL(u) {
			r.bad("API_URL", plainHTTP)
		}
	}
	refused := false
	for _, to := range r.list("OAUTH_REDIRECT_URLS") {
		if u, err := url.Parse(to); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
			r.bad("OAUTH_REDIRECT_URLS", fmt.Sprintf("%q is not an absolute http(s) URL without a fragment, such as https://app.example.com/signed-in", to))
			refused = true
			continue
		}
		if u, _ := url.Parse(to); !secureURL(u) {
			r.bad("OAUTH_REDIRECT_URLS", fmt.Sprintf("%q: %s", to, plainHTTP))
			refused = true
			continue
		}
		cfg.RedirectURLs = append(cfg.RedirectURLs, to)
	}
	// " , " lists nothing, as an unset variable does.
	if len(names) > 0 && len(cfg.RedirectURLs) == 0 && !refused {
		r.bad("OAUTH_REDIRECT_URLS", "must list at least one URL of your app to send the browser back to (required with OIDC_PROVIDERS)")
	}
}

// pageURL reports whether u may be a page keel sends users to: a path on
// API_URL, or an absolute https URL (http only on a loopback host), without
// a fragment.
func pageURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Fragment == "" &&
		(strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") ||
			(u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && secureURL(u))
}

func (r *envReader) mfa(cfg *config) {
	cfg.MFAIssuer = r.get("MFA_ISSUER")
	cfg.MFAMaxFailures = r.number("MFA_MAX_FAILURES", 0)
	cfg.ReauthMaxAge = r.duration("REAUTH_MAX_AGE", time.Second)
	cfg.OPCodeTTL = r.duration("OP_CODE_TTL", time.Second)
	cfg.OPRequestTTL = r.duration("OP_REQUEST_TTL", time.Second)
	cfg.OPLoginURL = r.get("OP_LOGIN_URL")
	if !pageURL(cfg.OPLoginURL) {
		r.bad("OP_LOGIN_URL", "must be a path on API_URL (/oauth2/login) or an absolute https URL (http only on a loopback host), without a fragment")
	}
	cfg.OPDeviceURL = r.get("OP_DEVICE_URL")
	if !pageURL(cfg.OPDeviceURL) || strings.Contains(cfg.OPDeviceURL, "?") {
		r.bad("OP_DEVICE_URL", "must be a path on API_URL (/oauth2/device) or an absolute https URL (http only on a loopback host), without a query or fragment")
	}
	cfg.OPDeviceCodeTTL = r.duration("OP_DEVICE_CODE_TTL", time.Second)
	cfg.OPDeviceInterval = r.duration("OP_DEVICE_INTERVAL", time.Second)
	if cfg.OPDeviceInterval%time.Second != 0 {
		// RFC 8628 gives the device the interval in whole seconds.
		r.bad("OP_DEVICE_INTERVAL", "must be whole seconds")
	}
	if strings.Contains(cfg.MFAIssuer, ":") {
		r.bad("MFA_ISSUER", "must not contain a colon (the otpauth URI's label is issuer:account)")
	}
	if k := r.getenv("MFA_KEY"); k != "" {
		if len(k) < mfa.MinKeyLen {
			r.bad("MFA_KEY", fmt.Sprintf("must be at least %d bytes", mfa.MinKeyLen))
		}
		cfg.MFAKey = []byte(k)
	}
	cfg.MFAKeyPrevious = r.previous("MFA_KEY_PREVIOUS", "MFA_KEY", cfg.MFAKey, mfa.MinKeyLen)
}

// previous reads a secret's previous value (name), kept while a change of
// the secret current (read from currentName) settles: at least min bytes,
// and only beside a current value it differs from.
func (r *envReader) previous(name, currentName string, current []byte, min int) []byte {
	s := r.getenv(name)
	switch {
	case s == "":
		return nil
	case len(s) < min:
		r.bad(name, fmt.Sprintf("must be at least %d bytes", min))
	case len(current) == 0:
		r.bad(name, "requires "+currentName+": a change of secret names the new one")
	case s == string(current):
		r.bad(name, "must differ from "+currentName+": it is the value before the change")
	}
	return []byte(s)
}

// keys reads how access tokens are signed and their keys kept.
func (r *envReader) keys(cfg *config) {
	cfg.JWTAlg = strings.TrimSpace(r.getenv("JWT_ALG"))
	if cfg.JWTAlg != "" && cfg.JWTAlg != algHS256 && !keys.ValidAlg(cfg.JWTAlg) {
		r.bad("JWT_ALG", "must be EdDSA, ES256, RS256 or HS256")
	}
	if k := r.getenv("KEYS_KEK"); k != "" {
		if len(k) < keys.MinKEKLen {
			r.bad("KEYS_KEK", fmt.Sprintf("must be at least %d bytes", keys.MinKEKLen))
		}
		if string(cfg.JWTSecret) == k {
			r.bad("KEYS_KEK", "must not be JWT_SECRET: whoever holds JWT_SECRET would open the private keys")
		}
		cfg.KeysKEK = []byte(k)
	}
	cfg.JWTAudience = r.get("JWT_AUDIENCE")
	if strings.HasPrefix(cfg.JWTAudience, clients.IDPrefix) {
		// A client's tokens name the client as their audience: keel's
		// API must never take one for its own.
		r.bad("JWT_AUDIENCE", "must not begin with "+clients.IDPrefix+", the prefix of OAuth client ids")
	}
	names, err := claims.ParseNames(r.getenv(claims.Setting))
	if err != nil {
		r.bad(claims.Setting, strings.TrimPrefix(err.Error(), claims.Setting+": "))
	}
	cfg.ClaimsFromAppMetadata = names
	cfg.JWKSMaxAge = r.duration("JWKS_MAX_AGE", time.Second)
	cfg.KeysRotateEvery = r.duration("KEYS_ROTATE_EVERY", 0)
	if cfg.KeysRotateEvery > 0 && cfg.KeysRotateEvery < cfg.JWKSMaxAge {
		r.bad("KEYS_ROTATE_EVERY", "must be 0 or at least JWKS_MAX_AGE: a key must sign for as long as its successor waits")
	}
}

// dcrMinTokenLen is the shortest OP_DCR_INITIAL_ACCESS_TOKEN: as long as
// keel's other secrets, so it cannot be guessed through the rate limit.
const dcrMinTokenLen = 32

// dynamicRegistration reads RFC 7591 registration's settings.
func (r *envReader) dynamicRegistration(cfg *config) {
	cfg.DynamicRegistration = r.boolean("OP_DYNAMIC_REGISTRATION")
	if t := r.getenv("OP_DCR_INITIAL_ACCESS_TOKEN"); t != "" {
		if len(t) < dcrMinTokenLen {
			r.bad("OP_DCR_INITIAL_ACCESS_TOKEN", fmt.Sprintf("must be at least %d bytes", dcrMinTokenLen))
		}
		cfg.DCRInitialAccessToken = t
	}
	cfg.DCRIdle = time.Duration(r.number("OP_DCR_IDLE_DAYS", 1)) * 24 * time.Hour
}

// webhooks reads the WEBHOOKS_* settings.
func (r *envReader) webhooks(cfg *config) {
	w := &cfg.Webhooks
	w.AllowPrivate = r.boolean("WEBHOOKS_ALLOW_PRIVATE")
	w.Timeout = r.duration("WEBHOOKS_TIMEOUT", 100*time.Millisecond)
	w.RetryMin = r.duration("WEBHOOKS_RETRY_MIN", time.Millisecond)
	w.RetryFor = r.duration("WEBHOOKS_RETRY_FOR", time.Millisecond)
	w.DisableAfter = r.duration("WEBHOOKS_DISABLE_AFTER", time.Millisecond)
	w.RotationOverlap = r.duration("WEBHOOKS_ROTATION_OVERLAP", 0)
	w.Workers = r.number("WEBHOOKS_WORKERS", 1)
}

// localURL is keel's URL on this machine, for an unset API_URL: http on
// localhost, at the port of addr.
func localURL(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = "8080"
	}
	return "http://localhost:" + port
}

// passkeys reads the relying party; an RP ID or origins turn passkeys on,
// and then the three must fit together (passkey.Config.Validate).
func (r *envReader) passkeys(cfg *config) {
	c := passkey.Config{RPID: strings.TrimSpace(r.getenv("WEBAUTHN_RP_ID")), RPName: r.get("WEBAUTHN_RP_NAME"),
		Origins: r.list("WEBAUTHN_ORIGINS")}
	if !c.Enabled() {
		return
	}
	if err := c.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	cfg.Passkeys = c
}

func (r *envReader) logging(cfg *config) {
	if err := cfg.LogLevel.UnmarshalText([]byte(r.get("LOG_LEVEL"))); err != nil {
		r.bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	cfg.LogFormat = strings.ToLower(r.get("LOG_FORMAT"))
	if cfg.LogFormat != "json" && cfg.LogFormat != "text" {
		r.bad("LOG_FORMAT", "must be json or text")
	}
}

// plainHTTP is why an http:// URL of the sign-in is refused: over plain HTTP
// a network attacker reads or rewrites the discovery document, the keys, the
// callback's code or the app's one-time code.
const plainHTTP = "must be https (http only on a loopback host: localhost, 127.0.0.0/8, [::1]), or anyone on the network could read or forge the sign-in"

// secureURL reports whether u, an absolute http(s) URL, is https or names a
// loopback host (a developer's own machine, where http is fine).
func secureURL(u *url.URL) bool {
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopback reports whether addr (host:port) names a loopback host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseBytes reads a size in bytes, with an optional KiB or MiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = strings.TrimSpace(rest), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, errors.New("bad size")
	}
	return n * mult, nil
}

// The database engines DATABASE_URL selects.
const (
	engineSQLite   = "sqlite"
	enginePostgres = "postgres"
)

// databaseURL is the database DATABASE_URL names.
type databaseURL struct {
	Engine string // engineSQLite or enginePostgres
	Path   string // the SQLite file
	URL    string // the PostgreSQL URL; it may hold a password, so print String()
}

// String names the database for logs and errors, without a password.
func (d databaseURL) String() string {
	if d.Engine == enginePostgres {
		return redactURL(d.URL)
	}
	return d.Path
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if strings.Contains(raw, "@") {
			return "(a URL that does not parse; not shown, it may hold a password)"
		}
		return raw
	}
	return u.Redacted()
}

// parseDatabase reads DATABASE_URL: postgres:// and postgresql:// URLs select
// PostgreSQL, anything else is a SQLite file.
func parseDatabase(raw string) (databaseURL, error) {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			return databaseURL{}, errors.New("not a URL such as postgres://user:password@host:5432/keel")
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return databaseURL{}, errors.New("names no host, as in postgres://user:password@host:5432/keel")
		}
		return databaseURL{Engine: enginePostgres, URL: raw}, nil
	}
	path, err := databasePath(raw)
	return databaseURL{Engine: engineSQLite, Path: path}, err
}

// databasePath turns DATABASE_URL into a SQLite file path. A plain path selects
// SQLite; so do file: and sqlite: URLs. Other schemes are not supported.
func databasePath(raw string) (string, error) {
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(raw, prefix); ok {
			raw = rest
			break
		}
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return "", errors.New("query options are not supported; keel sets the SQLite pragmas itself")
	}
	if strings.Contains(raw, "://") {
		return "", errors.New("give a postgres:// URL or a SQLite file path such as data/keel.db")
	}
	if raw == "" || raw == ":memory:" {
		return "", errors.New("must name a database file")
	}
	return raw, nil
}
