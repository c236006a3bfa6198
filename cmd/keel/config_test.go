package main

import (
	"os"
	"strings"
	"testing"
	"time"
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
			cfg.ResetTTL != 30*time.Minute || cfg.PublicURL != "http://localhost:8080" ||
			cfg.BcryptCost != 10 || cfg.JobInterval != 5*time.Second || cfg.LogFormat != "json" || cfg.JWTSecret != nil {
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
	bad := map[string]string{
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
