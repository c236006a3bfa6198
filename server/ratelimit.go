package server

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/validate"
)

// limitAuth applies AUTH_RATE_LIMIT per operation and client address to the
// operations the spec marks with x-keel-rate-limit. The store keeps the count
// (PostgreSQL in the database, for the whole cluster; SQLite in this process).
// It runs after the request validator: a request the spec refuses (a
// cross-site text/plain form post is a 415, an anonymous call to a bearer
// operation a 401) costs no budget, so a web page cannot spend its visitors'
// budget with requests keel would never serve; nor with a provider
// sign-in's start that the browser did not navigate to (an <img> of it).
// Each operation has its own bucket, so a flood of /login does not block
// /register or /password/reset for the others behind the same address, but
// those that check a password share one: the spec names the bucket
// (x-keel-rate-limit: password), so whoever holds a session gets
// AUTH_RATE_LIMIT password guesses a minute in all, not at each.
func (s *Server) limitAuth() echo.MiddlewareFunc {
	if s.cfg.AuthRateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			op := s.ops[validate.Key{Method: req.Method, Path: c.Path()}]
			if op == nil || !op.RateLimited {
				return next(c)
			}
			if op.Navigation && !topLevelNavigation(req.Header) {
				return errNotNavigation
			}
			d, err := s.store.TakeRateToken(req.Context(), clientKey(op.RateBucket, c.RealIP()), s.cfg.AuthRateLimit, s.now())
			if err != nil {
				return err
			}
			if d > 0 {
				return tooManyRequests("attempts from this address", d)
			}
			return next(c)
		}
	}
}

// errNotNavigation is a provider sign-in's start that a browser did not
// send as a top-level navigation: a page's <img> or <iframe> pointing at
// it, which would otherwise spend the budget of everyone behind its
// visitor's address without signing anyone in.
var errNotNavigation = &Error{Status: http.StatusBadRequest,
	Detail: "open this URL as a top-level navigation (a link or a redirect), not from within another page"}

// topLevelNavigation reports whether a request is a top-level navigation,
// as far as the browser says (Fetch Metadata): a request without
// Sec-Fetch-Dest comes from something other than a current browser, which
// a page cannot make its visitors send, and is taken as one.
func topLevelNavigation(h http.Header) bool {
	dest := h.Get("Sec-Fetch-Dest")
	return dest == "" || dest == "document"
}

// clientKey is the bucket a client address counts against for the
// operation op: "ip:", the operation id and the address for IPv4, its /64
// network for IPv6, where one subscriber typically holds a whole /64 and
// could otherwise rotate addresses to dodge the limit. The "ip" before the
// first colon is the key's namespace, like "email:" and "mfa:": SQLite's
// in-process limits bound each namespace on their own (ratelimit.Memory).
func clientKey(op, ip string) string {
	prefix := "ip:" + op + ":"
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return prefix + ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return prefix + ip
	}
	return prefix + p.String()
}

// emailsPerMinute is how many emails (reset or verification) one address may
// be sent a minute: the per-IP limit alone would let a botnet flood one inbox.
const emailsPerMinute = 1

// limitEmail admits one email to address, or refuses it with 429: the
// per-address limit of POST /password/forgot and POST /email/verify/resend,
// on whenever AUTH_RATE_LIMIT is. Known and unknown addresses count alike,
// so the answer says nothing of which exist. Keys are SHA-256 hashes: the
// rate-limit table holds no address in the clear (though a dictionary of
// known addresses would match them).
func (s *Server) limitEmail(ctx context.Context, address string) error {
	if s.cfg.AuthRateLimit <= 0 {
		return nil
	}
	d, err := s.store.TakeRateToken(ctx, "email:"+db.HashToken(address), emailsPerMinute, s.now())
	if err != nil {
		return err
	}
	if d > 0 {
		return tooManyRequests("emails for this address", d)
	}
	return nil
}

// enrolmentsPerMinute is how many passkey registrations and TOTP enrolments
// (each its own budget) one account may begin a minute: each stores a
// ceremony or an unverified factor, and a stolen session should not be able
// to churn them, nor a page to flood the owner's authenticator prompts.
const enrolmentsPerMinute = 10

// limitEnrolments admits the beginning of one enrolment (what: "passkey" or
// "totp") for the user, or refuses it with 429. It is a limit per account,
// on whatever AUTH_RATE_LIMIT is, counted by the store like the others.
func (s *Server) limitEnrolments(ctx context.Context, what string, userID int64) error {
	d, err := s.store.TakeRateToken(ctx, "enrol:"+what+":"+strconv.FormatInt(userID, 10), enrolmentsPerMinute, s.now())
	if err != nil {
		return err
	}
	if d > 0 {
		return tooManyRequests(what+" enrolments for this account", d)
	}
	return nil
}
