package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
	"unicode"
	"unicode/utf8"
)

// The admin API's reading of accounts (issue 26, docs/admin.md): who is an
// admin, and the users as an admin sees them.

// The roles of an account (users.role); internal/admin holds the rules.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// The states of an account, as the admin API shows and filters them
// (UserRecord.State).
const (
	StateActive     = "active"
	StateBanned     = "banned"
	StateUnverified = "unverified"
)

// EventRoleChanged is the event of a role change (data: role, from), by
// the API (actor admin:<id> or client:<id>) or the keel command (cli).
const EventRoleChanged = "user.role_changed"

// ErrLastAdmin is a role change that would leave no admin
// (RoleChange.KeepAdmin).
var ErrLastAdmin = errors.New("db: this would leave no admin")

// UserRecord is an account as the admin API reads it: the User and what only
// admins see. Never the password hash.
type UserRecord struct {
	User
	Role string
	// AppMetadata and UserMetadata are JSON objects ("{}" when empty).
	AppMetadata, UserMetadata json.RawMessage
	// BannedAt is when a ban began (zero: none), BannedUntil when it ends
	// (zero: until lifted); BanReason is the admin's word for it.
	BannedAt, BannedUntil time.Time
	BanReason             string
	// ExternalID names an imported account in the system it came from.
	ExternalID string
}

// Banned reports whether a ban holds at now.
func (u UserRecord) Banned(now time.Time) bool {
	return !u.BannedAt.IsZero() && (u.BannedUntil.IsZero() || u.BannedUntil.After(now))
}

// State is the account's state at now: banned while a ban holds, else
// unverified until its address is proved, else active. ListUsers filters
// by the same rule in SQL.
func (u UserRecord) State(now time.Time) string {
	switch {
	case u.Banned(now):
		return StateBanned
	case !u.EmailVerified:
		return StateUnverified
	}
	return StateActive
}

// AdminAccess is what the admin check of every admin request reads, in one
// query: the bearer check's SessionAccess (its AuthTime read too) and the
// account's role, as it is now.
type AdminAccess struct {
	SessionAccess
	Role string
}

// RoleChange sets the role of the account with UserID, or, when UserID is
// zero, of the account with Email (in any letter case).
type RoleChange struct {
	UserID int64
	Email  string
	Role   string
	// KeepAdmin refuses a change that leaves no admin who is not banned
	// at Now (ErrLastAdmin): the API's rule, so no admin locks everyone
	// out (a banned admin cannot sign in to undo it); the keel command,
	// run by whoever holds the database, may.
	KeepAdmin bool
	Now       time.Time
}

// UserFilter is a page of ListUsers: the users after the id After (0: from
// the first), at most Limit of them, in id order; of Role and State when
// set; and, when Query is set, whose email starts with it (ASCII letters in
// any case), or whose id it is. Now decides whether a ban holds.
type UserFilter struct {
	Query       string
	Role, State string
	After       int64
	Limit       int
	Now         time.Time
	// Scan is how many users past After a page may read when no index
	// serves its filters (DefaultUserScan when zero): a page that has read
	// them without finding Limit matches ends there, short, and the next
	// one goes on from the last user it read.
	Scan int
	// PrefixCap is how many emails may start with Query for the email
	// index to find its page (DefaultPrefixCap when zero): past it, a read
	// in id order finds a page's worth of them sooner.
	PrefixCap int
}

// DefaultPrefixCap is UserFilter.PrefixCap's default: reading a thousand
// entries of the email index, then their rows, takes about what reading
// DefaultUserScan users in id order does.
const DefaultPrefixCap = 1000

// DefaultUserScan bounds the users a filtered page reads in id order: a
// few milliseconds of reading on either engine, however few users match
// (BENCH.md, "Listing users").
const DefaultUserScan = 10_000

// UserPage is a page of ListUsers.
type UserPage struct {
	Users []UserRecord
	// Next is the After of the page after this one; 0 on the last page.
	// It may be past the last of Users: the page read further without
	// finding more.
	Next int64
}

// Admins is the store of the admin API's reading of accounts and of their
// roles.
type Admins interface {
	// GetAdminAccess is GetSessionAccess with the session's auth time and
	// the account's role, or ErrNoSession.
	GetAdminAccess(ctx context.Context, sessionID string, userID int64) (AdminAccess, error)
	// GetUserRecord returns the account with id, or ErrNoUser.
	GetUserRecord(ctx context.Context, id int64) (UserRecord, error)
	// SetRole applies c and returns the account as it is after it, with
	// the role it had before. after, when not nil and the role changes,
	// runs in the change's transaction (its event). ErrNoUser, ErrLastAdmin.
	SetRole(ctx context.Context, c RoleChange, after func(tx *sql.Tx, u UserRecord, from string) error) (UserRecord, string, error)
	// ListUsers returns a page of the accounts f selects. Every account
	// with an id past f.After that f selects and that exists from the call
	// to the end of the listing is on this page or, when Next is set,
	// past Next.
	ListUsers(ctx context.Context, f UserFilter) (UserPage, error)
}

// EmailPrefixRange is the range of lower-cased emails that start with
// prefix, ASCII letters in any case: [lo, hi), lo the prefix in lower case
// and hi the least string above every string that starts with lo. Both
// engines' indexes serve such a range (SQLite's NOCASE unique index,
// PostgreSQL's lower(email) text_pattern_ops), where LIKE with a parameter
// would not use them. hi is the prefix with its last character (a rune:
// UTF-8's byte order is the code points' order) made the next one, and is
// always UTF-8 text, as PostgreSQL's text must be: the last byte made the
// next one turned "a\x7f" or "¿" into invalid UTF-8, a 500 there. hi is ""
// when no string is above (a prefix of U+10FFFF), or when the prefix is not
// UTF-8 text (no email is).
func EmailPrefixRange(prefix string) (lo, hi string) {
	b := []byte(prefix)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	lo = string(b)
	if !utf8.ValidString(lo) {
		return lo, ""
	}
	rs := []rune(lo)
	for i := len(rs) - 1; i >= 0; i-- {
		next := rs[i] + 1
		switch {
		case next == 'A':
			// Upper-case letters are never in the range (NOCASE compares
			// them as lower case; lower() removed them): past them.
			next = 'Z' + 1
		case next == 0xD800:
			next = 0xE000 // past the surrogates, which are no characters
		case next > unicode.MaxRune:
			continue
		}
		return lo, string(append(rs[:i:i], next))
	}
	return lo, ""
}
