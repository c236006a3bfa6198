package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelhq/keel/internal/mail"
)

// Without SMTP_URL, emails go to the log whole and keel says so once, at start.
func TestNewMailerConsole(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	reg := prometheus.NewRegistry()
	m, err := newMailer(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "Hi", Text: "token=abc"}); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "SMTP_URL is not set: emails are written to the log"); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "token=abc") {
		t.Errorf("the email is not in the log:\n%s", out)
	}
	families, _ := reg.Gather()
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if got := strings.Join(names, " "); got != "keel_email_failures_total keel_emails_sent_total" {
		t.Errorf("metrics %q", got)
	}
}

func TestNewMailerSMTP(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"SMTP_URL": "smtps://user:pw@mail.example.com"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := newMailer(cfg, slog.New(slog.NewTextHandler(&buf, nil)), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "SMTP_URL") {
		t.Errorf("warned although SMTP_URL is set: %s", buf.String())
	}
}
