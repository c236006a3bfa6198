package server

// Bans (issue 26): an operator's ban refuses the account at every way in,
// once its credential has checked out. The check itself is the store's, in
// the transaction that would start the session (db.ErrBanned); here is what
// a client is told, and the admin operations that set and lift a ban.

import (
	"net/http"
)

// accountBannedType is the problem type of a sign-in refused for a ban
// (the spec's AccountBanned response).
const accountBannedType = "urn:keel:problem:account-banned"

// errAccountBanned is db.ErrBanned as a client sees it: only ever after its
// credential checked out. It says neither the reason nor the end, which are
// the operator's to tell.
var errAccountBanned = &Error{Status: http.StatusForbidden, Type: accountBannedType, Title: "Account banned",
	Detail: "this account is banned; contact the service's operator"}
