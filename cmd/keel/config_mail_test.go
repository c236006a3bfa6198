package main

import (
	"strings"
	"testing"
)

func TestLoadConfigEmail(t *testing.T) {
	t.Parallel()
	t.Run("defaults: console mailer, local links", func(t *testing.T) {
		cfg, err := loadConfig(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SMTPURL != "" || cfg.MailFrom != `"keel" <noreply@localhost>` || cfg.PublicURL != "http://localhost:8080" {
			t.Errorf("SMTP_URL %q, MAIL_FROM %q, PUBLIC_URL %q", cfg.SMTPURL, cfg.MailFrom, cfg.PublicURL)
		}
	})
	t.Run("good values", func(t *testing.T) {
		for _, m := range []map[string]string{
			{"SMTP_URL": "smtp://user:p%40ss@mail.example.com:587", "MAIL_FROM": "noreply@example.com", "PUBLIC_URL": "https://keel.example.com/"},
			{"SMTP_URL": "smtps://mail.example.com", "MAIL_FROM": "Keel <noreply@example.com>", "PUBLIC_URL": "http://10.0.0.1:8080/app"},
		} {
			cfg, err := loadConfig(env(m))
			if err != nil {
				t.Errorf("%v: %v", m, err)
				continue
			}
			if cfg.SMTPURL != m["SMTP_URL"] || strings.HasSuffix(cfg.PublicURL, "/") {
				t.Errorf("%v: SMTP_URL %q, PUBLIC_URL %q (want no trailing slash)", m, cfg.SMTPURL, cfg.PublicURL)
			}
		}
	})
	for name, values := range map[string][]string{
		"SMTP_URL":   {"mail.example.com:587", "http://mail.example.com", "smtp://", "smtp://host:notaport", "smtp://host/x", "smtp://host?tls=no"},
		"MAIL_FROM":  {"noreply", "keel <>", "a@b, c@d"},
		"PUBLIC_URL": {"keel.example.com", "ftp://keel.example.com", "https://keel.example.com/?x=1", "/relative", "https://user:pw@keel.example.com"},
	} {
		for _, v := range values {
			t.Run("bad "+name+" "+v, func(t *testing.T) {
				_, err := loadConfig(env(map[string]string{name: v}))
				if err == nil || !strings.Contains(err.Error(), name+"=") {
					t.Errorf("%s=%s: error %v does not name the variable", name, v, err)
				}
			})
		}
	}
	t.Run("a bad SMTP_URL never shows its password", func(t *testing.T) {
		for _, v := range []string{"smtp://user:hunter2-secret@host:notaport", "smtp://user:hunter2%zz-secret@host", "http://user:hunter2-secret@host", "smtp://user:hunter2-secret@host/path"} {
			_, err := loadConfig(env(map[string]string{"SMTP_URL": v}))
			if err == nil || !strings.Contains(err.Error(), "SMTP_URL") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: error %v: want SMTP_URL named and no password", v, err)
			}
		}
	})
}
