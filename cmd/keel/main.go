// Command keel serves the keel API: see README.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/joho/godotenv"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/webhooks"
	"github.com/keelhq/keel/server"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keel:", err)
		os.Exit(1)
	}
}

// run is the whole program, so tests can call it with their own arguments,
// environment and output. It returns when ctx ends or on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := "serve", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "-h", "-help", "--help", "help":
		return usage(stdout)
	case "version", "--version":
		_, err := fmt.Fprintln(stdout, versionString())
		return err
	case "openapi":
		_, err := stdout.Write(api.YAML)
		return err
	case "serve", "migrate", "healthcheck", "keys", "clients", "secrets", "users", "webhooks":
	default:
		return fmt.Errorf("unknown command %q; see keel --help", cmd)
	}

	getenv, err := withDotEnv(".env", getenv)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	switch cmd {
	case "migrate":
		return migrate(ctx, cfg, rest, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "keys":
		return keysCommand(ctx, cfg, rest, stdout)
	case "clients":
		return clientsCommand(ctx, cfg, rest, stdout)
	case "secrets":
		return secrets(ctx, cfg, rest, stdout)
	case "users":
		return usersCommand(ctx, cfg, rest, stdout)
	case "webhooks":
		return webhooksCommand(ctx, cfg, rest, stdout)
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments; configure it with environment variables (keel --help)")
	}
	// keel's live heap is a few MB, so at Go's default GOGC=100 the collector
	// runs every few MB of allocation: under load, ~10 % of GET / goes to GC.
	// 400 trades a few MB of peak memory for that; an explicit GOGC wins.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// Log lines are buffered and written every 100 ms, off the request path.
	out := newLogBuffer(stdout, 64<<10, 100*time.Millisecond)
	defer out.Close()
	log := newLogger(out, cfg.LogFormat, cfg.LogLevel)
	// Libraries that log through the default logger (zitadel/oidc's pkg/op,
	// the standard log package) write keel's log lines, not bare text on
	// stderr.
	slog.SetDefault(log)
	return serve(ctx, cfg, log)
}

// usage prints the commands and the environment variables they read.
func usage(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`keel serves the keel API (see README.md).

Usage:
  keel [serve]          serve the API (the default)
  keel migrate          apply the database migrations and print the schema version
  keel migrate status   list the migrations and which are applied, changing nothing
  keel keys list        list the signing keys and their states
  keel keys rotate      add a next signing key (it signs once published for JWKS_MAX_AGE)
  keel keys revoke KID  withdraw a key at once (a suspected leak); the next or a new key signs
  keel clients create   register an app that signs in with keel (--name, --redirect-uri...; docs/provider.md):
                        prints its client_id and, unless --public, its secret, once
  keel clients list     list the registered clients (never their secrets)
  keel clients delete ID  delete a client
  keel secrets reseal   re-seal the TOTP and webhook secrets of the previous key material under the current one
  keel webhooks create --url URL --event TYPE...   add a webhook endpoint (docs/webhooks.md): prints its id and
                        its whsec_ secret, once
  keel webhooks list    list the webhook endpoints (never their secrets)
  keel webhooks rotate ID  give an endpoint a new secret (the old one signs too for WEBHOOKS_ROTATION_OVERLAP)
  keel webhooks enable ID  enable an endpoint (one disabled for failing, say); disable ID stops its deliveries
  keel webhooks delete ID  delete an endpoint and its deliveries
  keel users export [--totp-key-file F] OUT   write every account, one JSON line each (docs/admin.md, "Moving users")
  keel users import [--totp-key-file F] [--firebase-…] IN   bring accounts in from that format or another system's hashes
  keel users grant-admin EMAIL   make the account an admin (docs/admin.md); revoke-admin EMAIL undoes it
  keel healthcheck      exit 0 when the keel at ADDR answers GET /healthz (for container health checks)
  keel openapi          print the OpenAPI document the binary serves
  keel version          print the version, commit and Go version
  keel --help           print this help

Environment (also read from ./.env; serve, migrate, keys, clients, secrets and users read them):
`)
	for _, s := range settings {
		fmt.Fprintf(&b, "  %-20s %s (%s)\n", s.Name, s.Meaning, defaultText(s.Default))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// defaultText says what an unset variable means: a value, or a word in
// parentheses for a default that is not a value (such as "generated").
func defaultText(d string) string {
	switch {
	case d == "":
		return "unset by default"
	case strings.HasPrefix(d, "("):
		return strings.Trim(d, "()") + " when unset"
	}
	return "default " + d
}

// migrate runs `keel migrate [status]`.
func migrate(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0:
		v, err := dbEngines[cfg.Database.Engine].migrate(ctx, cfg)
		if err != nil {
			return fmt.Errorf("database %s: %w", cfg.Database, err)
		}
		_, err = fmt.Fprintf(stdout, "%s: schema version %d\n", cfg.Database, v)
		return err
	case len(args) == 1 && args[0] == "status":
		list, err := dbEngines[cfg.Database.Engine].status(ctx, cfg)
		if err != nil {
			return fmt.Errorf("database %s: %w", cfg.Database, err)
		}
		for _, m := range list {
			state := "pending"
			if m.Applied {
				state = "applied"
			}
			fmt.Fprintf(stdout, "%-8s %-5s %05d %s\n", state, m.Source, m.Version, m.Name)
		}
		return nil
	}
	return fmt.Errorf("usage: keel migrate [status]")
}

// withDotEnv reads a .env file when there is one, as dotenv does: variables
// already set in the environment win over the file.
func withDotEnv(path string, getenv func(string) string) (func(string) string, error) {
	file, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, nil
}

// serve runs the API until ctx ends, then shuts down in order: stop
// accepting and let in-flight requests finish, say goodbye to WebSockets,
// stop the job engine, close the database.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	go api.Spec() // parse the spec on the other core while the database opens
	var providers oidc.Providers
	if len(cfg.OIDCProviders) > 0 {
		// First, so that a wrong issuer or an unreachable provider stops keel
		// at once with a message naming it, rather than failing a user's
		// sign-in later (and before migrating a database for nothing).
		var err error
		if providers, err = oidc.Discover(ctx, cfg.APIURL, cfg.OIDCProviders, nil); err != nil {
			return err
		}
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()

	secret, err := token.LoadSecret(cfg.JWTSecret, filepath.Dir(cfg.Database.Path), log)
	if err != nil {
		return err
	}
	mfaKeys, err := newMFAKeys(cfg, secret)
	if err != nil {
		return err
	}
	ring, tokenOpts, err := openKeys(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	var published server.PublishedKeys
	if ring != nil {
		published = ring
		// The ring follows the key set (every replica's changes, the
		// schedule) until serve returns, and stops before the database closes.
		ringCtx, stopRing := context.WithCancel(ctx)
		ringDone := make(chan struct{})
		go func() { defer close(ringDone); ring.Run(ringCtx) }()
		defer func() { stopRing(); <-ringDone }()
	}
	var rp *passkey.RP
	if cfg.Passkeys.Enabled() {
		if rp, err = passkey.New(cfg.Passkeys); err != nil {
			return err
		}
	}
	tokens := token.New(secret, cfg.JWTTTL, time.Now, tokenOpts...)
	op, err := openProvider(cfg, store, ring, secret, tokens, log)
	if err != nil {
		return err
	}
	app := server.New(cfg.server(), server.Deps{
		Log:       log,
		Store:     store,
		Tokens:    tokens,
		Refresh:   newRefresher(cfg, secret),
		Passwords: password.New(cfg.BcryptCost, cfg.HashWorkers, cfg.HashQueue),
		Providers: providers,
		MFA:       mfaKeys,
		Passkeys:  rp,
		Keys:      published,
		Provider:  op,
	})
	// Sockets of sessions that end close on every replica: the watch runs
	// until serve returns, and is done before the database closes.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); app.Watch(watchCtx) }()
	defer func() { stopWatch(); <-watched }()
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	engine, err := newEngine(cfg, log, store, app, mfaKeys)
	if err != nil {
		return err
	}
	// For the early returns; after the shutdown sequence's Stop this one
	// returns at once, and it is bounded like that one in any case.
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		engine.Stop(stopCtx)
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR=%q: %w", cfg.Addr, err)
	}
	srv := newHTTPServer(cfg, app, log, tlsConfig)
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	// The engine starts beside the listener: River's Start (its services,
	// the first leader election) takes a few to a few tens of ms that serving
	// need not wait for, and requests may insert jobs before it is done. Not
	// ctx: the engine stops in the shutdown sequence, after the HTTP server,
	// so that requests in flight may still insert jobs.
	engineStarted := make(chan error, 1)
	go func() { engineStarted <- engine.Start(context.WithoutCancel(ctx)) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", cfg.TLSCert != ""),
		slog.String("database", cfg.Database.String()))
	// Loading the spec and migrating leave garbage behind: hand it back to the
	// OS rather than carry it as idle RSS, off the start-up path.
	go debug.FreeOSMemory()

	for running := true; running; {
		select {
		case err := <-served:
			return err // TLS files unreadable, or the listener failed
		case err := <-engineStarted:
			if err != nil {
				return fmt.Errorf("job engine: %w", err)
			}
			engineStarted = nil // started: wait on the others
		case <-ctx.Done():
			running = false
		}
	}
	shutdown(ctx, cfg, log, srv, app, engine)
	return nil
}

// newMFAKeys derives the keys that seal TOTP secrets and hash recovery codes
// from MFA_KEY, or from the JWT secret (as set or generated) when it is unset;
// either way the database alone opens none. The previous key material,
// MFA_KEY_PREVIOUS or, without MFA_KEY, JWT_SECRET_PREVIOUS, still opens
// and checks what it sealed and hashed while a change settles.
func newMFAKeys(cfg config, jwtSecret []byte) (*mfa.Keys, error) {
	key, previous := cfg.MFAKey, cfg.MFAKeyPrevious
	if len(key) == 0 {
		key, previous = jwtSecret, cfg.JWTSecretPrevious
	}
	var before [][]byte
	if len(previous) > 0 {
		before = append(before, previous)
	}
	k, err := mfa.New(key, before...)
	if err != nil {
		return nil, fmt.Errorf("MFA_KEY: %w", err)
	}
	return k, nil
}

// newRefresher makes refresh tokens under the JWT secret (as set or
// generated) and accepts those of JWT_SECRET_PREVIOUS too, when set.
func newRefresher(cfg config, jwtSecret []byte) *token.Refresher {
	if len(cfg.JWTSecretPrevious) > 0 {
		return token.NewRefresher(jwtSecret, cfg.JWTSecretPrevious)
	}
	return token.NewRefresher(jwtSecret)
}

// loadTLS loads TLS_CERT and TLS_KEY, when set, before listening, so that a
// bad file stops start-up.
func loadTLS(cfg config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT/TLS_KEY: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// newEngine builds the job engine with its mailer, on the Server's metrics,
// and hands its client to the Server, which inserts jobs.
func newEngine(cfg config, log *slog.Logger, store database, app *server.Server, sealer webhooks.Sealer) (*jobs.Engine, error) {
	mailer, err := newMailer(cfg, log, app.Registry())
	if err != nil {
		return nil, err
	}
	engine, err := jobs.New(store, store.Jobs(), jobs.Config{
		CountUsersEvery: cfg.JobInterval, Log: log, Registry: app.Registry(),
		Mailer: mailer, PublicURL: cfg.PublicURL, VerifyTTL: cfg.VerifyTTL, ResetTTL: cfg.ResetTTL, InviteTTL: cfg.InviteTTL,
		DCRIdle: cfg.DCRIdle, AuditRetention: cfg.AuditRetention,
		Webhooks: jobs.WebhooksConfig{
			Sealer: sealer, AllowPrivate: cfg.Webhooks.AllowPrivate, Timeout: cfg.Webhooks.Timeout,
			RetryMin: cfg.Webhooks.RetryMin, RetryFor: cfg.Webhooks.RetryFor, DisableAfter: cfg.Webhooks.DisableAfter,
			Workers: cfg.Webhooks.Workers,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("job engine: %w", err)
	}
	app.UseJobs(engine)
	store.SetEventHook(engine.EventHook)
	return engine, nil
}

// newHTTPServer is keel's http.Server: every timeout set, headers capped.
func newHTTPServer(cfg config, h http.Handler, log *slog.Logger, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		// "OPTIONS *" reaches keel (a 404 problem) instead of getting
		// net/http's bare, undocumented 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:                    tlsConfig,
	}
}

// shutdown stops, in order: the HTTP server (in-flight requests get
// SHUTDOWN_TIMEOUT), the WebSockets (1001, a few seconds of their own), the
// job engine (the rest of the deadline). serve's deferred Close closes the
// database last.
func shutdown(ctx context.Context, cfg config, log *slog.Logger, srv *http.Server, app *server.Server, engine *jobs.Engine) {
	// A second SIGINT or SIGTERM now kills the process at once.
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	log.Info("shutting down", slog.String("timeout", cfg.ShutdownTimeout.String()))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("in-flight requests cut off at the shutdown deadline", slog.Any("err", err))
		srv.Close()
	}
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancelClose()
	if err := app.Close(closeCtx); err != nil {
		log.Warn("WebSockets still open after their close handshake", slog.Any("err", err))
	}
	// Running jobs are cancelled at the deadline; River takes back any it
	// had to abandon.
	if err := engine.Stop(shutdownCtx); err != nil {
		log.Warn("jobs still running at the shutdown deadline", slog.Any("err", err))
	}
	log.Info("stopped")
}
