package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"log/slog"
	"strings"

	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
)

// openProvider builds keel as an OpenID Provider (docs/provider.md) over the
// store, signing with ring's RS256 key. An install still on HS256 has no
// ring, and so no provider: its endpoints answer 404.
// tokens are keel's own access tokens, which introspection answers for too.
func openProvider(cfg config, store database, ring *keys.Ring, secret []byte, tokens *token.Issuer, log *slog.Logger) (*provider.Provider, error) {
	if ring == nil {
		return nil, nil
	}
	kek, err := keyKEK(cfg, log)
	if err != nil {
		return nil, err
	}
	// pkg/op encrypts what it keeps opaque with this key: derived from
	// KEYS_KEK, so every replica has it and it is no other key.
	crypto, err := hkdf.Key(sha256.New, kek, nil, "keel oidc provider crypto key", 32)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	copy(key[:], crypto)
	return provider.New(provider.Config{
		Issuer: cfg.APIURL, LoginURL: cfg.OPLoginURL, CodeTTL: cfg.OPCodeTTL, RequestTTL: cfg.OPRequestTTL,
		AccessTTL: cfg.JWTTTL, RefreshTTL: cfg.RefreshTTL, SessionMaxAge: cfg.SessionMaxAge,
		DeviceURL: cfg.OPDeviceURL, DeviceCodeTTL: cfg.OPDeviceCodeTTL, DeviceInterval: cfg.OPDeviceInterval,
		RefreshReuseInterval: cfg.RefreshReuseInterval, CryptoKey: key, KeelAudience: cfg.JWTAudience,
		AppMetadataClaims: cfg.ClaimsFromAppMetadata,
		// API_URL is https, or http on a loopback host (the config refuses
		// any other).
		Insecure: strings.HasPrefix(cfg.APIURL, "http://"),
	}, provider.Deps{Store: store, Devices: store, Accounts: store, Clients: store, Keys: ring,
		Refresh: newRefresher(cfg, secret), Tokens: tokens, Log: log})
}
