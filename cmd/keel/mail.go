package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelhq/keel/internal/mail"
)

// newMailer builds the Sender the email jobs use: SMTP when SMTP_URL is set,
// else the console mailer, which keel announces once at start so that nobody
// waits in production for emails that only reach the log. Either way it
// counts keel_emails_* on reg.
func newMailer(cfg config, log *slog.Logger, reg prometheus.Registerer) (mail.Sender, error) {
	var s mail.Sender = mail.Console{Log: log, From: cfg.MailFrom}
	if cfg.SMTPURL == "" {
		log.Warn("SMTP_URL is not set: emails are written to the log")
	} else {
		smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		s = smtp
	}
	return mail.NewMetered(s, reg)
}
