package main

import (
	"slices"
	"strings"
	"testing"
)

// TestLoadConfigClaims: JWT_CLAIMS_FROM_APP_METADATA is read as a list of
// names and reaches the server; a name that collides with a claim keel sets
// or a registered one stops keel at start, naming the setting.
func TestLoadConfigClaims(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil || cfg.ClaimsFromAppMetadata != nil {
		t.Errorf("default: %v, %v; want none", cfg.ClaimsFromAppMetadata, err)
	}
	cfg, err = loadConfig(env(map[string]string{"JWT_CLAIMS_FROM_APP_METADATA": "tenant, plan"}))
	if want := []string{"tenant", "plan"}; err != nil || !slices.Equal(cfg.server().AppMetadataClaims, want) {
		t.Errorf("set: %v, %v; want %v", cfg.server().AppMetadataClaims, err, want)
	}
	for _, value := range []string{"sub", "tenant,roles", "aud", "exp", "iss", "sid", "aal", "amr", "lvl", "scope",
		"client_id", "azp", "nonce", "auth_time", "acr", "email", "SUB", "tenant,,plan", "tenant,tenant"} {
		_, err := loadConfig(env(map[string]string{"JWT_CLAIMS_FROM_APP_METADATA": value}))
		if err == nil || !strings.Contains(err.Error(), "JWT_CLAIMS_FROM_APP_METADATA") {
			t.Errorf("%q: %v, want an error naming JWT_CLAIMS_FROM_APP_METADATA", value, err)
		}
	}
}
