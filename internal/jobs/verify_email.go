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

// VerifyEmail emails a user a one-time token that confirms their address.
// Inserted with the user row at registration, and by POST /email/verify/resend.
type VerifyEmail struct {
	UserID int64 `json:"user_id"`
}

// Kind names the job in River's tables and in keel's metrics.
func (VerifyEmail) Kind() string { return "verify-email" }

type verifyEmailWorker struct {
	river.WorkerDefaults[VerifyEmail]
	store     db.Store
	mailer    mail.Sender
	publicURL string
	ttl       time.Duration
	now       func() time.Time
}

func (w *verifyEmailWorker) Work(ctx context.Context, job *river.Job[VerifyEmail]) error {
	u, err := w.store.GetUser(ctx, job.Args.UserID)
	if errors.Is(err, db.ErrNoUser) || (err == nil && u.EmailVerified) {
		return nil // deleted or verified since: nothing to send
	}
	if err != nil {
		return err
	}
	token, err := issueOneTimeToken(ctx, w.store, u.ID, u.Email, db.PurposeVerifyEmail, w.now().Add(w.ttl))
	if err != nil {
		return err
	}
	return w.mailer.Send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Confirm your email address",
		Text: fmt.Sprintf("Open this link to confirm that %s is your address:\n\n%s/verify-email?token=%s\n\n"+
			"(or send {\"token\": \"%s\"} to POST /email/verify, signed in to the account or with its \"password\"). "+
			"It works once, for %s.\n\n"+
			"If you did not create this account, someone else registered your address: reset its password "+
			"(POST /password/forgot) to take it over, which removes whatever they added to it.\n",
			u.Email, w.publicURL, token, token, w.ttl),
	})
}
