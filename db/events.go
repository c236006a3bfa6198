package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"
)

// Event is one record of what happened to an account (issue 26): a row of
// the events table, which the audit trail, the owner's notification mails
// and webhooks all read. Events are never updated; they outlive the account
// they are about (UserID names no row then), until AUDIT_RETENTION.
type Event struct {
	ID        int64 // given by the store; ignored when recording
	Type      string
	CreatedAt time.Time // kept to the millisecond
	// UserID is the account the event is about; 0 for none (an admin's
	// action on no account, a failed sign-in for an unknown email).
	UserID int64
	// Actor is who did it: "user:<id>", "admin:<id>", "client:<client_id>",
	// "cli", "system", or "anonymous" (a failed sign-in of no account).
	Actor     string
	IP        string
	UserAgent string
	// Data is the event's own fields, a JSON object ("{}" when nil).
	Data json.RawMessage
}

// ActorUser is the actor of what a user did themself, ActorAdmin of what an
// admin person did.
func ActorUser(id int64) string  { return "user:" + strconv.FormatInt(id, 10) }
func ActorAdmin(id int64) string { return "admin:" + strconv.FormatInt(id, 10) }

// ActorClient is the actor of what a machine client (client_credentials) did.
func ActorClient(id string) string { return "client:" + id }

// Actors of events.
const (
	ActorCLI       = "cli"
	ActorSystem    = "system"
	ActorAnonymous = "anonymous"
)

// The types of events (docs/admin.md, "Events and the audit trail", lists
// each with when it is written and its data). A type is a noun and a past
// participle, dot-separated; new ones follow the same style.
const (
	EventUserCreated       = "user.created" // data.method: register|provider|admin|invite|import
	EventUserEmailVerified = "user.email_verified"
	EventUserUpdated       = "user.updated" // data.fields
	EventUserDeleted       = "user.deleted"
	EventUserBanned        = "user.banned" // data.until, data.reason
	EventUserUnbanned      = "user.unbanned"
	EventUserRoleChanged   = "user.role_changed" // data.role

	EventSignInSucceeded = "signin.succeeded" // data.method: password|passkey|provider|totp|recovery
	EventSignInFailed    = "signin.failed"    // data.method, data.reason

	EventSessionEnded         = "session.ended" // data.why: logout|reset|reuse|ban|admin|password|expired
	EventSessionRefreshReused = "session.refresh_reused"

	EventPasswordChanged = "password.changed"
	EventPasswordReset   = "password.reset"

	EventMFAFactorAdded              = "mfa.factor_added"
	EventMFAFactorRemoved            = "mfa.factor_removed"
	EventMFAFactorsReset             = "mfa.factors_reset"
	EventMFARecoveryCodesRegenerated = "mfa.recovery_codes_regenerated"
	EventMFALocked                   = "mfa.locked"
	EventPasskeyAdded                = "passkey.added"
	EventPasskeyRemoved              = "passkey.removed"
	EventIdentityLinked              = "identity.linked"
	EventIdentityUnlinked            = "identity.unlinked"
)

// Events are the records of what happened to accounts.
type Events interface {
	// RecordEventTx writes e in tx, the transaction of the change it
	// records: nothing is recorded for a change rolled back, and an error
	// rolls the change back.
	RecordEventTx(ctx context.Context, tx *sql.Tx, e Event) error
	// RecordEvent writes e on its own, for what changes nothing (a failed
	// sign-in): best-effort, it may be lost in a crash.
	RecordEvent(ctx context.Context, e Event) error
	// RecordEventTxID is RecordEventTx that returns the event's id, for
	// the job the event feeds (the owner's mail carries it).
	RecordEventTxID(ctx context.Context, tx *sql.Tx, e Event) (int64, error)
	// ListEvents returns the events f selects, newest first (by id,
	// descending): at most f.Limit of them, all with ids below f.Before
	// (0: from the newest). The next page is f with Before the last id
	// returned, so a listing never repeats an event, and events recorded
	// while it goes on (higher ids) never enter it.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// PruneEvents deletes the events made before cutoff, at most batch of
	// them (the oldest), and returns how many: the retention job calls it
	// until it returns less than batch.
	PruneEvents(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}

// EventFilter selects events for ListEvents: each field that is not zero
// must match.
type EventFilter struct {
	UserID int64
	Actor  string
	Type   string
	Since  time.Time // created at or after
	Before int64     // the cursor: ids below it only; 0 for none
	Limit  int
}
