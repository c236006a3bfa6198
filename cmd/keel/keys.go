package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/token"
)

// algHS256 is JWT_ALG for signing with JWT_SECRET, as keel did before it had
// signing keys.
const algHS256 = "HS256"

// keyStore is a database that keeps signing keys too.
type keyStore interface {
	keys.Store
	CountUsers(ctx context.Context) (int64, error)
	CountUsersBefore(ctx context.Context, t time.Time) (int64, error)
}

// signingAlg decides the algorithm access tokens are signed with: JWT_ALG
// when set; else the current key's (not the provider's RS256 beside it);
// else, on an install that has users but
// no signing key (one upgraded from HS256), HS256 with a warning, so that no
// verifier holding JWT_SECRET breaks before its operator switches; else the
// default, EdDSA.
func signingAlg(ctx context.Context, cfg config, st keyStore, log *slog.Logger) (string, error) {
	if cfg.JWTAlg != "" {
		return cfg.JWTAlg, nil
	}
	stored, _, err := st.SigningKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("signing keys: %w", err)
	}
	// The current key's algorithm; of two current keys, not the RS256 one
	// the OpenID Provider keeps beside keel's own (ringConfig's Also).
	current := ""
	for _, k := range stored {
		if k.State == keys.StateCurrent && (current == "" || current == keys.RS256) {
			current = k.Alg
		}
	}
	if current != "" {
		return current, nil
	}
	if len(stored) == 0 {
		n, err := st.CountUsers(ctx)
		if err != nil {
			return "", err
		}
		if n > 0 {
			log.Warn("JWT_ALG is not set and this database has users but no signing key: access tokens stay HS256 "+
				"with JWT_SECRET; set JWT_ALG=EdDSA (and KEYS_KEK) to sign with published keys (docs/tokens.md)",
				slog.Int64("users", n))
			return algHS256, nil
		}
	}
	return keys.EdDSA, nil
}

// keyKEK is KEYS_KEK, or on SQLite, when unset, the one kept in the data
// directory (made on first use), so that `make run` needs no setup.
func keyKEK(cfg config, log *slog.Logger) ([]byte, error) {
	if len(cfg.KeysKEK) > 0 {
		return cfg.KeysKEK, nil
	}
	if cfg.Database.Engine != engineSQLite {
		// Checked here rather than with the other settings, so that `keel
		// migrate` and an install staying on HS256 need none.
		return nil, errors.New("KEYS_KEK must be set with PostgreSQL (the same on every replica) unless JWT_ALG=HS256: it seals the signing keys (docs/tokens.md)")
	}
	return token.LoadFileSecret(filepath.Join(filepath.Dir(cfg.Database.Path), "keys_kek"), "KEYS_KEK", log)
}

// ringConfig is the keys.Config of cfg for alg.
func ringConfig(cfg config, alg string, kek []byte, log *slog.Logger) keys.Config {
	return keys.Config{
		// RS256 signs the OpenID Provider's ID tokens and access tokens
		// (OpenID Connect requires it), whatever signs keel's own.
		Alg: alg, Also: []string{keys.RS256}, KEK: kek, TokenTTL: cfg.JWTTTL, Leeway: token.Leeway,
		MaxAge: cfg.JWKSMaxAge, RotateEvery: cfg.KeysRotateEvery, Log: log,
	}
}

// openKeys returns the key ring access tokens are signed with, or nil when
// they are signed with HS256, and the token options that go with it.
func openKeys(ctx context.Context, cfg config, st keyStore, log *slog.Logger) (*keys.Ring, []token.Option, error) {
	opts := []token.Option{token.WithClaims(cfg.APIURL, cfg.JWTAudience)}
	alg, err := signingAlg(ctx, cfg, st, log)
	if err != nil || alg == algHS256 {
		return nil, opts, err
	}
	kek, err := keyKEK(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	ring, err := keys.Open(ctx, st, ringConfig(cfg, alg, kek, log))
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, token.WithKeys(ring))
	if cfg.apiURLUnset && cfg.Database.Engine == enginePostgres {
		log.Warn("API_URL is not set: access tokens name " + cfg.APIURL + " as their issuer, where the services behind keel " +
			"look for its keys; set API_URL to the URL they reach keel at (docs/tokens.md)")
	}
	// Accounts older than the first key were signed in with HS256 tokens:
	// those are accepted until the last of them has expired, so switching
	// JWT_ALG sends no one a 401. A new install accepts none.
	oldest := ring.Oldest()
	if n, err := st.CountUsersBefore(ctx, oldest); err != nil {
		return nil, nil, err
	} else if until := oldest.Add(cfg.JWTTTL + token.Leeway); n > 0 && time.Now().Before(until) {
		opts = append(opts, token.WithHS256Until(until))
		log.Info("HS256 access tokens signed before the first signing key are accepted until they expire",
			slog.Time("until", until))
	}
	return ring, opts, nil
}

// keysCommand runs `keel keys list|rotate|revoke KID`.
func keysCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	usage := errors.New("usage: keel keys list | keel keys rotate | keel keys revoke KID")
	if len(args) == 0 {
		return usage
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	log := slog.New(slog.DiscardHandler)
	admin := func() (*keys.Admin, error) {
		alg, err := signingAlg(ctx, cfg, store, log)
		if err != nil {
			return nil, err
		}
		if alg == algHS256 && args[0] == "rotate" {
			// No replica would publish the key, and it would switch the
			// install off HS256 at its next start without JWT_ALG.
			return nil, errors.New("this install signs access tokens with HS256 (JWT_SECRET): it has no key to rotate; " +
				"set JWT_ALG (and KEYS_KEK) to switch to published keys (docs/tokens.md)")
		}
		if alg == algHS256 {
			alg = keys.EdDSA
		}
		kek, err := keyKEK(cfg, log)
		if err != nil {
			return nil, err
		}
		return keys.NewAdmin(store, kek, alg, nil)
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		list, err := keys.NewAdmin(store, nil, "", nil)
		if err != nil {
			return err
		}
		stored, err := list.List(ctx)
		if err != nil {
			return err
		}
		if len(stored) == 0 {
			// Most likely another database than the server's (SQLite's
			// default path is relative): say which.
			_, err := fmt.Fprintf(stdout, "no signing keys in %s (keel makes one at its first start, unless it signs with HS256): is DATABASE_URL the server's?\n", cfg.Database)
			return err
		}
		return printKeys(stdout, stored)
	case args[0] == "rotate" && len(args) == 1:
		a, err := admin()
		if err != nil {
			return err
		}
		k, err := a.Rotate(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "added %s (%s) as next: it signs once it has been published for JWKS_MAX_AGE (%s)\n",
			k.ID, k.Alg, cfg.JWKSMaxAge)
		return err
	case args[0] == "revoke" && len(args) == 2:
		a, err := admin()
		if err != nil {
			return err
		}
		c, err := a.Revoke(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s: every replica refuses its tokens within a second\n", args[1])
		for _, k := range append(c.Update[1:], c.Add...) {
			fmt.Fprintf(stdout, "%s (%s) signs from now on\n", k.ID, k.Alg)
		}
		return nil
	}
	return usage
}

// printKeys lists keys as a table: id, algorithm, state and its times.
func printKeys(w io.Writer, stored []keys.Key) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED")
	for _, k := range stored {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.State, when(k.CreatedAt), when(k.ActivatedAt), when(k.RetiredAt))
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
