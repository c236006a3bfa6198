package server

// Bans (issue 26): an operator's ban refuses the account at every way in,
// once its credential has checked out. The check itself is the store's, in
// the transaction that would start the session (db.ErrBanned); here is what
// a client is told, and the helpers of the admin operations that set and
// lift a ban (AdminBanUser and AdminUnbanUser, in admin.go: the tag's file).

import (
	"net/http"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// failedBanned is the reason of a signin.failed whose credential checked
// out for a banned account.
const failedBanned = "banned"

// accountBannedType is the problem type of a sign-in refused for a ban
// (the spec's AccountBanned response).
const accountBannedType = "urn:keel:problem:account-banned"

// errAccountBanned is db.ErrBanned as a client sees it: only ever after its
// credential checked out. It says neither the reason nor the end, which are
// the operator's to tell.
var errAccountBanned = &Error{Status: http.StatusForbidden, Type: accountBannedType, Title: "Account banned",
	Detail: "this account is banned; contact the service's operator"}

var (
	// errSelfBan is an admin banning themselves: the ban would end the
	// very session that asks, and perhaps leave no admin who can sign in.
	errSelfBan = &Error{Status: http.StatusConflict, Detail: "an admin cannot ban themselves"}
	// errReasonNUL is a reason no database keeps alike: PostgreSQL's text
	// refuses a NUL (a 500 there), SQLite stores it.
	errReasonNUL = &Error{Status: http.StatusBadRequest, Field: "/reason", Detail: "must not hold a NUL character"}
	// errUntilPast is a ban that would end before it began.
	errUntilPast = &Error{Status: http.StatusBadRequest, Field: "/until", Detail: "must be in the future"}
)

// banData is the data of a user.banned event: why, and until when (null:
// until lifted).
type banData struct {
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until"`
}

// toAdminBan is the ban an account record holds (nil for none): an expired
// one too, until it is lifted or replaced; the state says whether it holds.
func toAdminBan(r db.UserRecord) *oapi.AdminBan {
	if r.BannedAt.IsZero() {
		return nil
	}
	b := &oapi.AdminBan{BannedAt: r.BannedAt.UTC(), Reason: r.BanReason}
	if !r.BannedUntil.IsZero() {
		b.Until = new(r.BannedUntil.UTC())
	}
	return b
}
