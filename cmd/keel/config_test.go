package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/mfa"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		cfg, err := loadConfig(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != ":8080" || cfg.Database != (databaseURL{Engine: engineSQLite, Path: "data/keel.db"}) || cfg.DBMaxConns != 10 || cfg.JWTTTL != 15*time.Minute || cfg.RefreshTTL != 30*24*time.Hour || cfg.RefreshReuseInterval != 0 ||
			cfg.ResetTTL != 30*time.Minute || cfg.InviteTTL != 72*time.Hour || cfg.AuditRetention != 90*24*time.Hour || cfg.PublicURL != "http://localhost:8080" ||
			cfg.BcryptCost != 10 || cfg.JobInterval != 5*time.Second || cfg.LogFormat != "json" || cfg.JWTSecret != nil ||
			cfg.SessionMaxAge != 30*24*time.Hour || cfg.AAL2MaxAge != 12*time.Hour || cfg.MFAPendingTTL != 10*time.Minute ||
			cfg.ReauthMaxAge != 10*time.Minute || cfg.server().ReauthMaxAge != 10*time.Minute ||
			cfg.OPLoginURL != "/oauth2/login" || cfg.OPCodeTTL != time.Minute || cfg.OPRequestTTL != 10*time.Minute ||
			cfg.OPDeviceURL != "/oauth2/device" || cfg.OPDeviceCodeTTL != 10*time.Minute || cfg.OPDeviceInterval != 5*time.Second {
			t.Errorf("defaults: %+v", cfg)
		}
	})
	t.Run("database URL forms", func(t *testing.T) {
		for in, want := range map[string]string{"/tmp/x.db": "/tmp/x.db", "file:x.db": "x.db", "sqlite:///tmp/y.db": "/tmp/y.db"} {
			cfg, err := loadConfig(env(map[string]string{"DATABASE_URL": in}))
			if err != nil || cfg.Database != (databaseURL{Engine: engineSQLite, Path: want}) {
				t.Errorf("%s: %+v %v, want %q", in, cfg.Database, err, want)
			}
		}
		for _, in := range []string{"postgres://keel:pw@db:5432/keel", "postgresql://db/keel?sslmode=disable"} {
			cfg, err := loadConfig(env(map[string]string{"DATABASE_URL": in, "JWT_SECRET": strings.Repeat("s", 32)}))
			if err != nil || cfg.Database != (databaseURL{Engine: enginePostgres, URL: in}) {
				t.Errorf("%s: %+v %v", in, cfg.Database, err)
			}
		}
	})
	t.Run("OP_LOGIN_URL is a path or a secure absolute URL", func(t *testing.T) {
		for in, ok := range map[string]bool{"/login": true, "https://app.example.com/sign-in?x=1": true,
			"http://127.0.0.1:3000/login": true, "http://app.example.com/login": false, "//evil.example/x": false,
			"login": false, "https://app.example.com/login#x": false, "javascript:alert(1)": false} {
			cfg, err := loadConfig(env(map[string]string{"OP_LOGIN_URL": in}))
			if (err == nil) != ok || ok && cfg.OPLoginURL != in {
				t.Errorf("OP_LOGIN_URL=%s: %v, want accepted %v", in, err, ok)
			}
		}
	})
	t.Run("OP_DEVICE_URL and the device grant's bounds", func(t *testing.T) {
		for in, ok := range map[string]bool{"/device": true, "https://app.example.com/device": true,
			"http://app.example.com/device": false, "//evil.example/x": false, "device": false,
			"https://app.example.com/device?x=1": false, "https://app.example.com/device#x": false} {
			cfg, err := loadConfig(env(map[string]string{"OP_DEVICE_URL": in}))
			if (err == nil) != ok || ok && cfg.OPDeviceURL != in {
				t.Errorf("OP_DEVICE_URL=%s: %v, want accepted %v", in, err, ok)
			}
		}
		for in, ok := range map[string]bool{"1s": true, "10s": true, "1500ms": false, "0s": false, "500ms": false} {
			if _, err := loadConfig(env(map[string]string{"OP_DEVICE_INTERVAL": in})); (err == nil) != ok {
				t.Errorf("OP_DEVICE_INTERVAL=%s: %v, want accepted %v", in, err, ok)
			}
		}
		if _, err := loadConfig(env(map[string]string{"OP_DEVICE_CODE_TTL": "0s"})); err == nil {
			t.Error("OP_DEVICE_CODE_TTL=0s accepted")
		}
	})
	t.Run("JWT_TTL may equal REFRESH_TTL", func(t *testing.T) {
		if _, err := loadConfig(env(map[string]string{"JWT_TTL": "1h", "REFRESH_TTL": "1h"})); err != nil {
			t.Errorf("JWT_TTL = REFRESH_TTL refused: %v", err)
		}
	})
	t.Run("settings that could not work together", func(t *testing.T) {
		for _, e := range []map[string]string{
			{"DB_MAX_CONNS": "1"},                  // start-up would wait on itself for a second connection
			{"JWT_TTL": "2h", "REFRESH_TTL": "1h"}, // an access token would outlive its session
		} {
			if _, err := loadConfig(env(e)); err == nil {
				t.Errorf("%v accepted", e)
			}
		}
	})
	t.Run("PostgreSQL needs JWT_SECRET; its password is never printed", func(t *testing.T) {
		_, err := loadConfig(env(map[string]string{"DATABASE_URL": "postgres://keel:hunter2-secret@db/keel", "DB_MAX_CONNS": "0"}))
		if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") || !strings.Contains(err.Error(), "DB_MAX_CONNS") {
			t.Errorf("error %v, want one naming JWT_SECRET and DB_MAX_CONNS", err)
		}
		_, err = loadConfig(env(map[string]string{"DATABASE_URL": "postgres://keel:hunter2-secret@/keel"}))
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("error %v: want DATABASE_URL named and no password", err)
		}
	})
	t.Run("MFA settings; a bad MFA_KEY is never printed", func(t *testing.T) {
		cfg, err := loadConfig(env(nil))
		if err != nil || cfg.MFAIssuer != "keel" || cfg.MFAKey != nil || cfg.server().MFAMaxFailures != 10 {
			t.Errorf("MFA defaults: issuer %q key %q max failures %d, %v", cfg.MFAIssuer, cfg.MFAKey, cfg.MFAMaxFailures, err)
		}
		if cfg, err := loadConfig(env(map[string]string{"MFA_MAX_FAILURES": "0"})); err != nil || cfg.server().MFAMaxFailures >= 0 { // off: negative for the server, whose 0 is the default
			t.Errorf("MFA_MAX_FAILURES=0: %d, %v", cfg.MFAMaxFailures, err)
		}
		key := strings.Repeat("k", 32)
		cfg, err = loadConfig(env(map[string]string{"MFA_ISSUER": "Acme Corp", "MFA_KEY": key}))
		if err != nil || cfg.MFAIssuer != "Acme Corp" || string(cfg.MFAKey) != key || cfg.server().MFAIssuer != "Acme Corp" {
			t.Errorf("MFA_ISSUER and MFA_KEY: %q %q, %v", cfg.MFAIssuer, cfg.MFAKey, err)
		}
		_, err = loadConfig(env(map[string]string{"MFA_KEY": "hunter2-too-short"}))
		if err == nil || !strings.Contains(err.Error(), "MFA_KEY") || !strings.Contains(err.Error(), "32 bytes") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("a short MFA_KEY: %v; want it named, the rule said, the value hidden", err)
		}
	})
	t.Run("session lifetimes reach the server", func(t *testing.T) {
		cfg, err := loadConfig(env(map[string]string{"SESSION_MAX_AGE": "48h", "AAL2_MAX_AGE": "1h", "MFA_PENDING_TTL": "5m"}))
		srv := cfg.server()
		if err != nil || srv.SessionMaxAge != 48*time.Hour || srv.AAL2MaxAge != time.Hour || srv.MFAPendingTTL != 5*time.Minute {
			t.Errorf("lifetimes: %v %v %v, %v", srv.SessionMaxAge, srv.AAL2MaxAge, srv.MFAPendingTTL, err)
		}
	})
	t.Run("token settings reach the server and the ring", func(t *testing.T) {
		cfg, err := loadConfig(env(map[string]string{"JWT_ALG": "ES256", "JWT_AUDIENCE": "api", "JWKS_MAX_AGE": "10s",
			"KEYS_ROTATE_EVERY": "24h", "KEYS_KEK": strings.Repeat("k", 32), "API_URL": "https://auth.example.com/"}))
		srv := cfg.server()
		if err != nil || cfg.JWTAlg != "ES256" || cfg.JWTAudience != "api" || srv.JWKSMaxAge != 10*time.Second ||
			cfg.KeysRotateEvery != 24*time.Hour || srv.Issuer != "https://auth.example.com" {
			t.Errorf("%+v, %v", cfg, err)
		}
		if _, err := loadConfig(env(map[string]string{"JWT_SECRET": strings.Repeat("k", 32), "KEYS_KEK": strings.Repeat("k", 32)})); err == nil ||
			!strings.Contains(err.Error(), "KEYS_KEK") || strings.Contains(err.Error(), "kkkk") {
			t.Errorf("KEYS_KEK = JWT_SECRET: %v", err)
		}
	})
	bad := map[string]string{
		"SESSION_MAX_AGE":     "0s",
		"AAL2_MAX_AGE":        "soon",
		"MFA_PENDING_TTL":     "-1m",
		"JWT_SECRET":          "short",
		"JWT_TTL":             "forever",
		"BCRYPT_COST":         "99",
		"JOB_INTERVAL":        "-1s",
		"LOG_LEVEL":           "loud",
		"LOG_FORMAT":          "xml",
		"DATABASE_URL":        "mysql://db/keel",
		"BODY_LIMIT":          "lots",
		"CORS_ORIGINS":        "app.example.com",
		"TLS_CERT":            "cert.pem", // without TLS_KEY
		"PPROF_ADDR":          "0.0.0.0:6060",
		"HASH_QUEUE":          "-1",
		"TRUSTED_PROXIES":     "10.0.0.0/33",
		"WS_RECHECK_INTERVAL": "0s",
		"MFA_KEY":             "short-mfa-key",
		"MFA_ISSUER":          "keel:prod",
		"MFA_MAX_FAILURES":    "-1",
		"REAUTH_MAX_AGE":      "0s",
		"JWT_ALG":             "PS256",
		"KEYS_KEK":            "short-kek",
		"JWKS_MAX_AGE":        "0s",
		"JWT_AUDIENCE":        "kc_dashboard", // a client id's prefix
		"KEYS_ROTATE_EVERY":   "1s",           // shorter than JWKS_MAX_AGE
	}
	for name, value := range bad {
		t.Run("bad "+name, func(t *testing.T) {
			_, err := loadConfig(env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: error %v does not name the variable", name, value, err)
			}
		})
	}
}

// TestSettingsDocumented keeps .env.example and docs/configuration.md's table in step
// with the variables loadConfig reads.
func TestSettingsDocumented(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"../../.env.example", "../../docs/configuration.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range settings {
			want := s.Name + "="
			if strings.HasSuffix(file, ".md") {
				want = "`" + s.Name + "`"
			}
			if !strings.Contains(string(b), want) {
				t.Errorf("%s does not document %s", file, s.Name)
			}
		}
	}
}

// TestMFAKeys: MFA_KEY, when set, is the key TOTP secrets are sealed with;
// unset, JWT_SECRET is. The previous key material opens what it sealed:
// MFA_KEY_PREVIOUS beside MFA_KEY, JWT_SECRET_PREVIOUS without it.
func TestMFAKeys(t *testing.T) {
	t.Parallel()
	jwt := []byte(strings.Repeat("j", 32))
	fromJWT, err := newMFAKeys(config{}, jwt)
	if err != nil {
		t.Fatal(err)
	}
	fromKey, err := newMFAKeys(config{MFAKey: []byte(strings.Repeat("m", 32))}, jwt)
	if err != nil {
		t.Fatal(err)
	}
	sameAsJWT, _ := mfa.New(jwt)
	sealed := fromJWT.Seal("f1", []byte("secret"))
	if _, err := sameAsJWT.Open("f1", sealed); err != nil {
		t.Errorf("without MFA_KEY the key is not JWT_SECRET's: %v", err)
	}
	if _, err := fromKey.Open("f1", sealed); err == nil {
		t.Error("with MFA_KEY set, JWT_SECRET's key still opens the secrets")
	}
	if _, err := newMFAKeys(config{}, []byte("short")); err == nil || !strings.Contains(err.Error(), "MFA_KEY") {
		t.Errorf("a short key: %v", err)
	}

	oldJWT, oldKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("p", 32))
	sealedJWT := must(mfa.New(oldJWT)).Seal("f1", []byte("secret"))
	sealedKey := must(mfa.New(oldKey)).Seal("f1", []byte("secret"))
	for _, tt := range []struct {
		name             string
		cfg              config
		opensJWT, opensK bool
	}{
		{"JWT_SECRET_PREVIOUS without MFA_KEY", config{JWTSecretPrevious: oldJWT}, true, false},
		{"JWT_SECRET_PREVIOUS beside MFA_KEY", config{JWTSecretPrevious: oldJWT, MFAKey: []byte(strings.Repeat("m", 32))}, false, false},
		{"MFA_KEY_PREVIOUS beside MFA_KEY", config{JWTSecretPrevious: oldJWT, MFAKey: []byte(strings.Repeat("m", 32)), MFAKeyPrevious: oldKey}, false, true},
	} {
		k, err := newMFAKeys(tt.cfg, jwt)
		if err != nil {
			t.Fatal(err)
		}
		_, errJWT := k.Open("f1", sealedJWT)
		_, errKey := k.Open("f1", sealedKey)
		if (errJWT == nil) != tt.opensJWT || (errKey == nil) != tt.opensK {
			t.Errorf("%s: opens JWT_SECRET_PREVIOUS's %v, MFA_KEY_PREVIOUS's %v; want %v, %v", tt.name, errJWT == nil, errKey == nil, tt.opensJWT, tt.opensK)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPreviousSecrets: JWT_SECRET_PREVIOUS and MFA_KEY_PREVIOUS are read
// beside the secret they precede, at least 32 bytes, not the same as it,
// and never printed.
func TestPreviousSecrets(t *testing.T) {
	t.Parallel()
	jwt, old := strings.Repeat("j", 32), "hunter2-"+strings.Repeat("o", 32)
	cfg, err := loadConfig(env(map[string]string{"JWT_SECRET": jwt, "JWT_SECRET_PREVIOUS": old, "MFA_KEY": jwt + "m", "MFA_KEY_PREVIOUS": old}))
	if err != nil || string(cfg.JWTSecretPrevious) != old || string(cfg.MFAKeyPrevious) != old {
		t.Errorf("previous secrets: %q %q, %v", cfg.JWTSecretPrevious, cfg.MFAKeyPrevious, err)
	}
	if cfg, err := loadConfig(env(nil)); err != nil || cfg.JWTSecretPrevious != nil || cfg.MFAKeyPrevious != nil {
		t.Errorf("by default: %q %q, %v; want none", cfg.JWTSecretPrevious, cfg.MFAKeyPrevious, err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"JWT_SECRET": jwt, "JWT_SECRET_PREVIOUS": "hunter2-short"}, "JWT_SECRET_PREVIOUS=(hidden): must be at least 32 bytes"},
		{map[string]string{"JWT_SECRET_PREVIOUS": old}, "JWT_SECRET_PREVIOUS=(hidden): requires JWT_SECRET"},
		{map[string]string{"JWT_SECRET": old, "JWT_SECRET_PREVIOUS": old}, "JWT_SECRET_PREVIOUS=(hidden): must differ from JWT_SECRET"},
		{map[string]string{"MFA_KEY": jwt, "MFA_KEY_PREVIOUS": "hunter2-short"}, "MFA_KEY_PREVIOUS=(hidden): must be at least 32 bytes"},
		{map[string]string{"JWT_SECRET": jwt, "MFA_KEY_PREVIOUS": old}, "MFA_KEY_PREVIOUS=(hidden): requires MFA_KEY"},
		{map[string]string{"MFA_KEY": old, "MFA_KEY_PREVIOUS": old}, "MFA_KEY_PREVIOUS=(hidden): must differ from MFA_KEY"},
	} {
		_, err := loadConfig(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: %v, want an error saying %q and no secret", tt.env, err, tt.want)
		}
	}
}

// TestPasskeySettings: WEBAUTHN_* turn passkeys on; settings that do not fit
// together stop keel at start with a message naming them.
func TestPasskeySettings(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil || cfg.Passkeys.Enabled() {
		t.Errorf("passkeys by default: %+v, %v; want off", cfg.Passkeys, err)
	}
	cfg, err = loadConfig(env(map[string]string{"WEBAUTHN_RP_ID": "example.com",
		"WEBAUTHN_ORIGINS": "https://example.com, https://app.example.com"}))
	if err != nil || cfg.Passkeys.RPName != "keel" || len(cfg.Passkeys.Origins) != 2 {
		t.Errorf("a good relying party: %+v, %v", cfg.Passkeys, err)
	}
	if _, err := loadConfig(env(map[string]string{"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": "http://localhost:5173"})); err != nil {
		t.Errorf("http on localhost: %v", err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WEBAUTHN_RP_ID": "example.com"}, "WEBAUTHN_ORIGINS"},
		{map[string]string{"WEBAUTHN_ORIGINS": "https://example.com"}, "WEBAUTHN_RP_ID"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://example.net"}, "not WEBAUTHN_RP_ID"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://notexample.com"}, "not WEBAUTHN_RP_ID"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "app.example.com"}, "absolute origin"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://app.example.com/login"}, "absolute origin"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "http://app.example.com"}, "localhost only"},
		{map[string]string{"WEBAUTHN_RP_ID": "https://example.com", "WEBAUTHN_ORIGINS": "https://example.com"}, "host name"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com:8443", "WEBAUTHN_ORIGINS": "https://example.com:8443"}, "host name"},
	} {
		if _, err := loadConfig(env(tt.env)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error saying %q", tt.env, err, tt.want)
		}
	}
}
