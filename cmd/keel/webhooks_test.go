package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/pgtest"
)

// TestWebhooksCommand: `keel webhooks create` registers an endpoint and
// prints its id and secret once; list shows it (never a secret); rotate
// prints a new secret; disable and enable change its state (list shows
// it); delete removes it; a refused URL or event type says
// why and stores nothing. On SQLite and PostgreSQL.
func TestWebhooksCommand(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{engineSQLite, enginePostgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"JWT_SECRET": testSecret}
			if engine == enginePostgres {
				env["DATABASE_URL"] = pgtest.NewDatabase(t)
			} else {
				env["DATABASE_URL"] = filepath.Join(t.TempDir(), "keel.db")
			}
			keel := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := run(t.Context(), append([]string{"webhooks"}, args...), func(k string) string { return env[k] }, &out)
				return out.String(), err
			}
			for _, bad := range [][]string{
				{"create", "--url", "http://app.example/h", "--event", "user.created"},
				{"create", "--url", "https://127.0.0.1/h", "--event", "user.created"},
				{"create", "--url", "https://app.example/h", "--event", "signin.failed"},
				{"create", "--url", "https://app.example/h"},
				{"rotate"},
			} {
				if out, err := keel(bad...); err == nil {
					t.Errorf("keel webhooks %s: %q, want an error", strings.Join(bad, " "), out)
				}
			}
			if out, err := keel("list"); err != nil || !strings.Contains(out, "no webhook endpoints") {
				t.Fatalf("list after refusals: %q %v", out, err)
			}
			out, err := keel("create", "--url", "https://app.example/hooks", "--event", "user.created,user.deleted", "--event", "session.created")
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`id:\s+(ep_[0-9a-f]+)\nsecret: (whsec_\S+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("create printed %q", out)
			}
			out, err = keel("list")
			if err != nil || !strings.Contains(out, m[1]) || !strings.Contains(out, "user.created,user.deleted,session.created") || strings.Contains(out, "whsec_") {
				t.Errorf("list: %q %v", out, err)
			}
			out, err = keel("rotate", m[1])
			if err != nil || !strings.Contains(out, "whsec_") || strings.Contains(out, m[2]) {
				t.Errorf("rotate: %q %v", out, err)
			}
			out, err = keel("disable", m[1])
			if err != nil || !strings.Contains(out, "disabled "+m[1]) {
				t.Errorf("disable: %q %v", out, err)
			}
			if out, err = keel("list"); err != nil || !strings.Contains(out, "disabled (admin)") {
				t.Errorf("list after disable: %q %v", out, err)
			}
			if out, err = keel("enable", m[1]); err != nil || !strings.Contains(out, "enabled "+m[1]) {
				t.Errorf("enable: %q %v", out, err)
			}
			if out, err = keel("list"); err != nil || strings.Contains(out, "disabled") || !strings.Contains(out, "enabled") {
				t.Errorf("list after enable: %q %v", out, err)
			}
			for _, bad := range [][]string{{"enable"}, {"disable", m[1], "x"}, {"enable", "ep_000000000000000000000000"}} {
				if out, err := keel(bad...); err == nil {
					t.Errorf("keel webhooks %s: %q, want an error", strings.Join(bad, " "), out)
				}
			}
			if _, err := keel("delete", m[1]); err != nil {
				t.Fatal(err)
			}
			if _, err := keel("delete", m[1]); err == nil {
				t.Error("a second delete succeeded")
			}
		})
	}
}

// TestWebhookSettings: the WEBHOOKS_* defaults, set values, and refusals
// that name the variable.
func TestWebhookSettings(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhooks
	if w.AllowPrivate || w.Timeout != 10*time.Second || w.RetryMin != 5*time.Second || w.RetryFor != 24*time.Hour ||
		w.DisableAfter != 24*time.Hour || w.RotationOverlap != 24*time.Hour || w.Workers != 50 {
		t.Errorf("defaults %+v", w)
	}
	cfg, err = loadConfig(env(map[string]string{"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOKS_RETRY_MIN": "1s", "WEBHOOKS_WORKERS": "3"}))
	if err != nil || !cfg.Webhooks.AllowPrivate || cfg.Webhooks.RetryMin != time.Second || cfg.Webhooks.Workers != 3 {
		t.Errorf("set: %+v %v", cfg.Webhooks, err)
	}
	for name, value := range map[string]string{"WEBHOOKS_TIMEOUT": "1ms", "WEBHOOKS_RETRY_FOR": "soon", "WEBHOOKS_WORKERS": "0", "WEBHOOKS_ALLOW_PRIVATE": "maybe"} {
		if _, err := loadConfig(env(map[string]string{name: value})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming it", name, value, err)
		}
	}
}
