package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mail"
)

// Invite mails the person an admin created an account for (POST /admin/users
// with invite) a link that sets its first password. The link is a password
// reset token (db.PurposeResetPassword) that lives INVITE_TTL rather than
// RESET_TTL: POST /password/reset takes it as it takes any reset link, and
// using it proves the address as a reset does. Inserted in the transaction
// that creates the account; the args hold only the account's id, and the
// worker makes the token, so no token sits in River's tables.
type Invite struct {
	UserID int64 `json:"user_id"`
}

// Kind names the job in River's tables and in keel's metrics.
func (Invite) Kind() string { return "invite" }

type inviteWorker struct {
	river.WorkerDefaults[Invite]
	store     db.Store
	mailer    mail.Sender
	publicURL string
	ttl       time.Duration
	now       func() time.Time
}

func (w *inviteWorker) Work(ctx context.Context, job *river.Job[Invite]) error {
	u, err := w.store.GetUser(ctx, job.Args.UserID)
	if errors.Is(err, db.ErrNoUser) {
		return nil // deleted since: nobody to invite
	}
	if err != nil {
		return err
	}
	// The token names the address it goes to: using it proves that
	// address, and only while it is still the account's.
	token, err := issueOneTimeToken(ctx, w.store, u.ID, u.Email, db.PurposeResetPassword, w.now().Add(w.ttl))
	if err != nil {
		return err
	}
	return w.mailer.Send(ctx, mail.Message{
		To:      u.Email,
		Subject: "You are invited: choose your password",
		Text: fmt.Sprintf("An account was made for %s at %s. Open this link to choose its password:\n\n"+
			"%s/reset-password?token=%s\n\n(or send {\"token\": \"%s\", \"new_password\": \"…\"} to POST /password/reset). "+
			"It works once, for %s. If you did not expect this, ignore this email.\n",
			u.Email, w.publicURL, w.publicURL, token, token, w.ttl),
	})
}

// InviteTx has the new account's owner mailed a link that sets its
// password, in tx: the transaction that creates the account, so that no
// mail goes out for an account rolled back, and none is lost to a crash
// after the commit.
func (e *Engine) InviteTx(ctx context.Context, tx *sql.Tx, userID int64) error {
	_, err := e.client.InsertTx(ctx, tx, Invite{UserID: userID}, nil)
	return err
}
