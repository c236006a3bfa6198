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

// Notify tells an account's owner that how the account is signed in to has
// changed, so that a change they did not make does not go unnoticed. It is
// fed by the change's event (db.Event, recorded in the same transaction,
// whose id it carries): Event is the event's type (one of Notices' keys) and
// At its time. Inserted by the request that made the change, in its
// transaction. The args hold no secret: the worker reads the address when
// it sends, and makes the one token a mail may carry (the unlock link of
// db.EventMFALocked).
type Notify struct {
	UserID int64     `json:"user_id"`
	Event  string    `json:"event"`
	At     time.Time `json:"at"`
	// EventID is the event's id in the events table (0 in a job queued
	// before events existed).
	EventID int64 `json:"event_id,omitempty"`
}

// Kind names the job in River's tables and in keel's metrics.
func (Notify) Kind() string { return "notify" }

// notice is what the owner's mail about one type of event says.
type notice struct{ subject, what string }

// notices are the event types the owner is told of (db.Event*): each
// one's subject and what happened, as the mail says it.
var notices = map[string]notice{
	db.EventPasskeyAdded:                {"A passkey was added to your account", "a passkey was added to the account %s"},
	db.EventPasskeyRemoved:              {"A passkey was removed from your account", "a passkey was removed from the account %s"},
	db.EventMFAFactorAdded:              {"A second factor was added to your account", "an authenticator app (TOTP) was added as the second factor of the account %s"},
	db.EventMFAFactorRemoved:            {"A second factor was removed from your account", "the authenticator app (TOTP) was removed as the second factor of the account %s"},
	db.EventMFARecoveryCodesRegenerated: {"New recovery codes for your account", "a new set of recovery codes was made for the account %s; the old codes no longer work"},
	db.EventIdentityLinked:              {"A sign-in provider was linked to your account", "an account at a sign-in provider was linked to the account %s, and can now sign in to it"},
	db.EventIdentityUnlinked:            {"A sign-in provider was unlinked from your account", "an account at a sign-in provider was unlinked from the account %s"},
	db.EventPasswordChanged:             {"Your password was changed", "the password of the account %s was changed"},
	db.EventPasswordReset:               {"Your password was reset", "the password of the account %s was reset with the link mailed to this address"},
	db.EventMFAFactorsReset: {"The second factor of your account was reset", "an administrator removed the second factor of the account %s " +
		"(its authenticator app, recovery codes and perhaps its passkeys) and signed out every session, after checking who asked"},
	// The mail of a lock carries the unlock link.
	db.EventMFALocked: {"Your second factor is locked", "too many wrong authenticator app codes in a row were tried for the account %s, so it takes no more of them"},
}

// Notices reports whether the owner is told of events of type typ.
func Notices(typ string) bool { _, ok := notices[typ]; return ok }

// legacyNotices are the names jobs queued before events existed (keel
// before issue 26) carry, which a queue may still hold after an upgrade.
var legacyNotices = map[string]string{
	"passkey-added": db.EventPasskeyAdded, "passkey-removed": db.EventPasskeyRemoved,
	"totp-added": db.EventMFAFactorAdded, "totp-removed": db.EventMFAFactorRemoved,
	"recovery-codes-replaced": db.EventMFARecoveryCodesRegenerated,
	"identity-linked":         db.EventIdentityLinked, "identity-unlinked": db.EventIdentityUnlinked,
	"password-changed": db.EventPasswordChanged, "password-reset": db.EventPasswordReset,
	"mfa-locked": db.EventMFALocked,
}

type notifyWorker struct {
	river.WorkerDefaults[Notify]
	store     db.Store
	mailer    mail.Sender
	publicURL string
	unlockTTL time.Duration
	now       func() time.Time
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[Notify]) error {
	event := job.Args.Event
	if typ, ok := legacyNotices[event]; ok {
		event = typ
	}
	n, ok := notices[event]
	if !ok {
		return river.JobCancel(fmt.Errorf("notify: unknown event %q", job.Args.Event))
	}
	u, err := w.store.GetUser(ctx, job.Args.UserID)
	if errors.Is(err, db.ErrNoUser) {
		return nil // deleted since: nobody to tell
	}
	if err != nil {
		return err
	}
	text := fmt.Sprintf("On %s, "+n.what+".\n\n", job.Args.At.UTC().Format("2 January 2006 at 15:04:05 UTC"), u.Email)
	if event == db.EventMFALocked {
		// A retry (the mailer failed) makes a new token, as the other
		// emails do.
		token := newOneTimeToken()
		if err := w.store.CreateOneTimeToken(ctx, db.OneTimeToken{
			Hash: db.HashToken(token), UserID: u.ID, Purpose: db.PurposeUnlockMFA, Email: u.Email, ExpiresAt: w.now().Add(w.unlockTTL),
		}); err != nil {
			return err
		}
		text += fmt.Sprintf("If it was you, open this link to take codes again:\n\n%s/unlock-mfa?token=%s\n\n"+
			"(or send {\"token\": \"%s\"} to POST /mfa/unlock; it works once, for %s), or sign in with a recovery code. "+
			"If it was not you, someone knows your password: reset it now (POST /password/forgot sends you a link), "+
			"which signs out every session.\n", w.publicURL, token, token, w.unlockTTL)
	} else {
		text += "If it was you, there is nothing to do. If it was not, someone else can sign in to your account: " +
			"reset your password now (POST /password/forgot sends you a link), which signs out every session, " +
			"then check the account's passkeys, second factor and linked sign-in providers.\n"
	}
	return w.mailer.Send(ctx, mail.Message{To: u.Email, Subject: n.subject, Text: text})
}

// NotifyTx has the owner of the account told about the event ev, recorded
// with id eventID, in tx: the transaction of the change (and of its event),
// so that no mail goes out for a change rolled back, and none is lost to a
// crash after the commit.
func (e *Engine) NotifyTx(ctx context.Context, tx *sql.Tx, eventID int64, ev db.Event) error {
	_, err := e.client.InsertTx(ctx, tx, notifyOf(eventID, ev), nil)
	return err
}

// Notify is NotifyTx outside a transaction, for a test of the mail.
func (e *Engine) Notify(ctx context.Context, eventID int64, ev db.Event) error {
	_, err := e.client.Insert(ctx, notifyOf(eventID, ev), nil)
	return err
}

func notifyOf(eventID int64, ev db.Event) Notify {
	return Notify{UserID: ev.UserID, Event: ev.Type, At: ev.CreatedAt, EventID: eventID}
}
