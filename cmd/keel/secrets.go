package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/webhooks"
)

// resealBatch is how many factors `keel secrets reseal` re-seals in one
// transaction: small enough that it holds SQLite's one writer for
// milliseconds, so keel may keep serving meanwhile.
const resealBatch = 200

// secrets runs `keel secrets reseal`: after MFA_KEY, or JWT_SECRET without
// it, changed, it re-seals under the current key material every TOTP
// secret that opens only under the previous one (MFA_KEY_PREVIOUS or
// JWT_SECRET_PREVIOUS), so that the previous may go (docs/tokens.md).
func secrets(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "reseal" {
		return errors.New("usage: keel secrets reseal")
	}
	keys, err := mfaKeys(cfg)
	if err != nil {
		return err
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	n, err := store.ResealFactorSecrets(ctx, resealBatch, func(id string, sealed []byte) ([]byte, error) {
		resealed, err := keys.Reseal(id, sealed)
		if errors.Is(err, mfa.ErrSealed) {
			return nil, fmt.Errorf("the TOTP secret of factor %s opens under neither the current key material nor the previous: "+
				"set MFA_KEY_PREVIOUS (with MFA_KEY) or JWT_SECRET_PREVIOUS (without it) to the value it was sealed under", id)
		}
		return resealed, err
	})
	if err != nil {
		return fmt.Errorf("secrets reseal: %w (%d re-sealed before it)", err, n)
	}
	// Webhook secrets are sealed under the same key material.
	endpoints, err := store.WebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	hooks := 0
	for _, ep := range endpoints {
		changed := false
		_, err := store.UpdateWebhookEndpoint(ctx, ep.ID, func(e *webhooks.Endpoint) error {
			var err error
			changed, err = webhooks.Reseal(e, keys.Reseal)
			return err
		})
		if errors.Is(err, mfa.ErrSealed) {
			return fmt.Errorf("secrets reseal: the secret of webhook endpoint %s opens under neither the current key material nor the previous", ep.ID)
		}
		if err != nil && !errors.Is(err, webhooks.ErrNotFound) {
			return fmt.Errorf("secrets reseal: %w", err)
		}
		if changed {
			hooks++
		}
	}
	_, err = fmt.Fprintf(stdout, "re-sealed %d TOTP secrets and %d webhook endpoints' secrets under the current key material\n", n, hooks)
	return err
}

// mfaKeys are keel's TOTP sealing keys as serve derives them: from MFA_KEY,
// or from the JWT secret (set, or the one kept beside the SQLite database).
func mfaKeys(cfg config) (*mfa.Keys, error) {
	secret, err := token.LoadSecret(cfg.JWTSecret, filepath.Dir(cfg.Database.Path), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return newMFAKeys(cfg, secret)
}
