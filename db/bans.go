package db

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Ban is an operator's ban of an account (issue 26): from At until Until
// (the zero time: until lifted) every way in refuses the account once its
// credential checks out (ErrBanned), and the ban ended every session the
// account had. The zero Ban is none.
type Ban struct {
	At     time.Time
	Until  time.Time
	Reason string
}

// Active reports whether the ban refuses sign-ins at now: it was set and
// has not run out. A ban whose Until has passed stays recorded (an admin
// sees it) but refuses nothing.
func (b Ban) Active(now time.Time) bool {
	return !b.At.IsZero() && (b.Until.IsZero() || now.Before(b.Until))
}

// ErrBanned is a sign-in (or a grant to a client) of an account under an
// active ban: no session is made. It is returned only once the sign-in's
// credential has checked out, so a ban is never revealed to anyone without
// it.
var ErrBanned = errors.New("db: the account is banned")

// Bans are the operator's bans of accounts.
type Bans interface {
	// BanUser bans the account userID (replacing any ban it has) and, in
	// the same transaction, ends every session of it (its grants to
	// clients among them; announced, so its sockets close) and voids its
	// provider sign-in codes and link flows not yet used; ErrNoUser when
	// the account is not there. after, when not nil, runs in that
	// transaction with the ids of the sessions that ended (to record the
	// events); its error rolls it all back.
	BanUser(ctx context.Context, userID int64, b Ban, after func(tx *sql.Tx, ended []string) error) error
	// UnbanUser lifts the account's ban and reports whether it had one
	// (expired or not); ErrNoUser when the account is not there. after,
	// when not nil, runs in that transaction, only when a ban was lifted.
	UnbanUser(ctx context.Context, userID int64, after func(*sql.Tx) error) (bool, error)
	// GetBan returns the account's ban (the zero Ban for none, however
	// long ago a lifted one was), or ErrNoUser.
	GetBan(ctx context.Context, userID int64) (Ban, error)
}
