package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mail"
)

// ResetPassword emails a one-time password reset token to the account with
// Email, if there is one. POST /password/forgot inserts it for any address,
// so that the request costs the same whether or not the account exists; the
// worker finds out.
type ResetPassword struct {
	Email string `json:"email"`
}

// Kind names the job in River's tables and in keel's metrics.
func (ResetPassword) Kind() string { return "reset-password" }

type resetPasswordWorker struct {
	river.WorkerDefaults[ResetPassword]
	store     db.Store
	mailer    mail.Sender
	publicURL string
	ttl       time.Duration
	now       func() time.Time
}

func (w *resetPasswordWorker) Work(ctx context.Context, job *river.Job[ResetPassword]) error {
	creds, err := w.store.GetCredentials(ctx, job.Args.Email)
	if errors.Is(err, db.ErrNoUser) {
		return nil // no such account: nothing is sent
	}
	if err != nil {
		return err
	}
	token := newOneTimeToken()
	if err := w.store.CreateOneTimeToken(ctx, db.OneTimeToken{
		Hash: db.HashToken(token), UserID: creds.UserID, Purpose: db.PurposeResetPassword, Email: job.Args.Email, ExpiresAt: w.now().Add(w.ttl),
	}); err != nil {
		return err
	}
	return w.mailer.Send(ctx, mail.Message{
		To:      job.Args.Email,
		Subject: "Reset your password",
		Text: fmt.Sprintf("Someone asked to reset the password of %s. If it was you, open this link to choose a new one:\n\n"+
			"%s/reset-password?token=%s\n\n(or send {\"token\": \"%s\", \"new_password\": \"…\"} to POST /password/reset). "+
			"It works once, for %s, and signs you out everywhere. If it was not you, ignore this email.\n",
			job.Args.Email, w.publicURL, token, token, w.ttl),
	})
}
