// Package mail sends keel's emails (address verification, password reset):
// over SMTP with github.com/wneessen/go-mail when SMTP_URL is set, else to the
// log, whole, like Django's console backend, so `make run` needs no mail
// server. Emails are sent from River jobs (internal/jobs), never from a
// request: a slow or absent SMTP server delays an email, not a response.
package mail

import "context"

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers messages. Send returns nil only when the message was
// accepted for delivery; the job that called it is retried otherwise.
type Sender interface {
	Send(ctx context.Context, m Message) error
}
