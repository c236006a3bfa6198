package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/admin"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/validate"
	"github.com/keelhq/keel/internal/ws"
)

// Error is what a client is told when a request fails: the one type every
// refusal becomes (handleError renders it as problem+json). A handler returns
// one for an outcome that is the handler's own; errors of the libraries and
// the store become one in toError, here.
type Error struct {
	Status int
	// Detail is the problem's detail; with Field, it is the field's reason
	// (errors[0].reason) and the detail is "the request is invalid".
	Detail string
	// Field names the request field at fault (a JSON pointer such as
	// /password, or a parameter's name), for a 400.
	Field string
	// RetryAfter, when not zero, is sent as Retry-After (whole seconds, at
	// least 1): 429, and 503 when the bcrypt queue is full.
	RetryAfter time.Duration
	// Type and Title, when Type is set, name a kind of problem the spec
	// documents (RFC 9457 §3.1.1); otherwise the type is about:blank and the
	// title the status's text.
	Type, Title string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Field, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Detail)
}

// The outcomes handlers report themselves.
var (
	// errBadCredentials is a login's unknown email or wrong password, alike.
	errBadCredentials = &Error{Status: http.StatusUnauthorized, Detail: "invalid email or password"}
	// errWrongPassword is a signed-in user's wrong password (403, not 401:
	// the token is fine, and a client must not take it for a logout).
	errWrongPassword = &Error{Status: http.StatusForbidden, Detail: "the password is wrong"}
	// errNoPassword is errWrongPassword for an account created by a provider
	// sign-in, which has none until it sets one through the reset mail.
	errNoPassword     = &Error{Status: http.StatusForbidden, Detail: "this account has no password yet: set one through POST /password/forgot"}
	errUnknownSession = &Error{Status: http.StatusNotFound, Detail: "no such session"}
	// errSessionEnded is a valid access token whose session has ended.
	errSessionEnded = &Error{Status: http.StatusUnauthorized, Detail: "the session has ended; log in again"}
	// errBadRefresh is every refused refresh alike: unknown, expired, spent.
	errBadRefresh = &Error{Status: http.StatusUnauthorized, Detail: "the refresh token is invalid, expired or spent"}
	// errPasskeyRefused is every refused passkey sign-in alike: unknown
	// credential, wrong origin, RP ID, type or signature, a counter that went
	// backwards (the log says which).
	errPasskeyRefused = &Error{Status: http.StatusUnauthorized, Detail: "the passkey was not accepted"}
	errNoBearer       = &Error{Status: http.StatusUnauthorized, Detail: "a bearer token is required"}
	errBadBearer      = &Error{Status: http.StatusUnauthorized, Detail: "the bearer token is invalid or expired"}
	errNotReady       = &Error{Status: http.StatusServiceUnavailable, Detail: "the database does not answer"}
	// errPreflightRefused is a CORS preflight from an origin not in
	// CORS_ORIGINS (any origin, when CORS is off): a documented 403 rather
	// than a bare 204 that leaves the browser to guess.
	errPreflightRefused = &Error{Status: http.StatusForbidden, Detail: "this origin may not call keel from a browser"}
)

// tooManyRequests is a refusal by the rate limit, for what.
func tooManyRequests(what string, wait time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, RetryAfter: wait,
		Detail: "too many " + what + "; retry after the time in Retry-After"}
}

// passwordTooLongReason is the reason a password over bcrypt's limit gets.
var passwordTooLongReason = "must be at most " + strconv.Itoa(password.MaxBytes) + " bytes in UTF-8 (bcrypt reads no more)"

// passwordField names field as the password password.ErrTooLong is about
// (toError names /password); other errors pass through.
func passwordField(err error, field string) error {
	if errors.Is(err, password.ErrTooLong) {
		return &Error{Status: http.StatusBadRequest, Field: field, Detail: passwordTooLongReason}
	}
	return err
}

// sentinels are the library and storage errors a client is told about, and
// what it is told. db.ErrStale is not here: RefreshToken retries on it.
var sentinels = []struct {
	err error
	to  *Error
}{
	{db.ErrNoUser, errSessionEnded}, // only a signed-in user's own account is looked up by id
	{db.ErrNoSession, errSessionEnded},
	{db.ErrBanned, errAccountBanned},
	{provider.ErrNoRequest, errNoRequest},
	{provider.ErrNoDeviceCode, &Error{Status: http.StatusNotFound,
		Detail: "no such device code: it expired, was answered already, or is mistyped"}},
	{provider.ErrNoConsent, &Error{Status: http.StatusNotFound, Detail: "no consent to this client"}},
	{provider.ErrAAL2Required, errAAL2Required},
	{provider.ErrFreshProofRequired, errReauthRequired},
	{admin.ErrNotAdmin, errAdminRequired},
	{admin.ErrSecondFactor, errAdminMFA},
	{admin.ErrFreshProof, errReauthRequired},
	{db.ErrLastAdmin, errLastAdmin},
	{db.ErrNoToken, &Error{Status: http.StatusBadRequest, Field: "/token", Detail: "is unknown, used or expired"}},
	{db.ErrEmailTaken, &Error{Status: http.StatusConflict, Detail: "an account with this email already exists"}},
	{db.ErrNoIdentity, &Error{Status: http.StatusNotFound, Detail: "no such identity"}},
	{db.ErrLastWayIn, &Error{Status: http.StatusConflict, Detail: "this is the account's last way to sign in: " +
		"set a password (POST /password/forgot), link another provider or add a passkey first"}},
	{oidc.ErrUnavailable, &Error{Status: http.StatusBadGateway,
		Detail: "the sign-in provider could not be reached; start the sign-in again"}},
	{db.ErrEmailUnverified, errEmailUnverified},
	{db.ErrNoPasskey, &Error{Status: http.StatusNotFound, Detail: "no such passkey"}},
	{db.ErrPasskeyTaken, &Error{Status: http.StatusConflict, Detail: "this passkey is registered already"}},
	{db.ErrTooManyPasskeys, &Error{Status: http.StatusConflict, Detail: "the account has " + strconv.Itoa(db.MaxPasskeys) +
		" passkeys, the most it may hold: remove one first"}},
	{db.ErrTooManyIdentities, &Error{Status: http.StatusConflict, Detail: "the account links " + strconv.Itoa(db.MaxIdentities) +
		" provider accounts, the most it may: unlink one first"}},
	{db.ErrNoCeremony, &Error{Status: http.StatusBadRequest, Field: "/flow_id", Detail: "is unknown, used or expired"}},
	{passkey.ErrRefused, errPasskeyRefused},
	{passkey.ErrSignCount, errPasskeyRefused},
	{db.ErrNoFactor, &Error{Status: http.StatusNotFound, Detail: "no such factor"}},
	{db.ErrFactorExists, &Error{Status: http.StatusConflict, Detail: "the account has a verified TOTP factor already; remove it first"}},
	{db.ErrCodeUsed, errWrongCode},
	{password.ErrTooLong, &Error{Status: http.StatusBadRequest, Field: "/password", Detail: passwordTooLongReason}},
	{password.ErrBusy, &Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
		Detail: "the server is busy checking passwords; retry after the time in Retry-After"}},
	{password.ErrMismatch, errBadCredentials},
	{validate.ErrNotJSON, &Error{Status: http.StatusUnsupportedMediaType, Detail: "the request body must be application/json"}},
	{ws.ErrNotUpgrade, &Error{Status: http.StatusUpgradeRequired, Detail: "this endpoint speaks WebSocket only"}},
	{ws.ErrBadHandshake, &Error{Status: http.StatusBadRequest, Detail: "not a valid WebSocket handshake (version 13 with a key)"}},
	{ws.ErrCrossOrigin, &Error{Status: http.StatusForbidden, Detail: "cross-origin WebSocket handshakes are refused"}},
}

// toError is the one mapping of errors to what a client is told; anything
// it does not know is a 500 whose text stays in the log.
func toError(err error) *Error {
	var (
		e  *Error
		me *http.MaxBytesError
		be *validate.BodyError
		se *openapi3filter.SecurityRequirementsError
		re *openapi3filter.RequestError
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &me): // however deep: from the validator or a handler
		return &Error{Status: http.StatusRequestEntityTooLarge, Detail: "the request body is over the limit"}
	case errors.As(err, &e): // a handler's, or the bearer check's inside the validator's error
		return e
	}
	// Also inside the validator's error: the bearer check's store errors.
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.to
		}
	}
	switch {
	case errors.As(err, &se):
		return errNoBearer
	case errors.As(err, &be):
		return &Error{Status: http.StatusBadRequest, Detail: be.Detail}
	case errors.As(err, &re):
		return requestError(re)
	case errors.As(err, &he):
		return httpError(he)
	}
	return &Error{Status: http.StatusInternalServerError}
}

// httpError maps Echo's own errors: routing (404, 405) and any other
// *echo.HTTPError a library returns.
func httpError(he *echo.HTTPError) *Error {
	switch {
	case he.Code >= 500:
		return &Error{Status: he.Code}
	case he.Code == http.StatusNotFound:
		return &Error{Status: he.Code, Detail: "no resource at this path"}
	case he.Code == http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Detail: "this resource does not support the method"}
	}
	detail, _ := he.Message.(string)
	return &Error{Status: he.Code, Detail: detail}
}

// requestError explains why the request validator refused a request.
func requestError(re *openapi3filter.RequestError) *Error {
	var (
		pe *openapi3filter.ParseError
		se *openapi3.SchemaError
	)
	switch {
	case re.RequestBody != nil && errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return &Error{Status: http.StatusBadRequest, Detail: "a JSON request body is required"}
	case errors.As(re.Err, &pe) && re.Parameter != nil:
		// A path or query value that does not parse as its type (id=abc).
		return &Error{Status: http.StatusBadRequest, Field: re.Parameter.Name, Detail: parameterParseDetail(re.Parameter)}
	case errors.As(re.Err, &pe):
		return &Error{Status: http.StatusBadRequest, Detail: "the request body is not valid JSON"}
	case errors.As(re.Err, &se):
		field := "/" + strings.Join(se.JSONPointer(), "/")
		if re.Parameter != nil {
			field = re.Parameter.Name
		}
		return &Error{Status: http.StatusBadRequest, Field: field, Detail: se.Reason}
	case re.Parameter != nil:
		return &Error{Status: http.StatusBadRequest, Field: re.Parameter.Name, Detail: re.Reason}
	}
	return &Error{Status: http.StatusBadRequest, Detail: "the request is invalid"}
}

// parameterParseDetail says what a parameter's value must be when it does
// not parse as the spec's type for it.
func parameterParseDetail(p *openapi3.Parameter) string {
	if p.Schema != nil && p.Schema.Value != nil {
		switch {
		case p.Schema.Value.Type.Is(openapi3.TypeInteger):
			return "must be a whole number"
		case p.Schema.Value.Type.Is(openapi3.TypeNumber):
			return "must be a number"
		case p.Schema.Value.Type.Is(openapi3.TypeBoolean):
			return "must be true or false"
		}
	}
	return "is not a valid value"
}

// problem is e as RFC 9457 problem+json.
func (e *Error) problem() oapi.Problem {
	p := oapi.Problem{Type: "about:blank", Title: http.StatusText(e.Status), Status: e.Status}
	if e.Type != "" {
		p.Type, p.Title = e.Type, e.Title
	}
	detail := e.Detail
	if e.Field != "" {
		detail = "the request is invalid"
		p.Errors = &[]oapi.FieldError{{Field: e.Field, Reason: e.Detail}}
	}
	if detail != "" {
		p.Detail = &detail
	}
	return p
}

const problemJSON = "application/problem+json"

// statusClientClosed is what the log and metrics record for a request whose
// client went away before the answer; it is never sent.
const statusClientClosed = 499

// handleError is keel's one Echo HTTPErrorHandler: every error any handler or
// middleware returns becomes an RFC 9457 problem with a documented status.
// Only 5xx are logged (not 503: the server is well, only busy or waiting for
// its database), with the request id; their text never reaches the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		// The client went away mid-request: nobody reads an answer, so none
		// is sent (none the spec would have to document). The log and the
		// metrics say 499, nginx's "client closed request".
		c.Response().Status = statusClientClosed
		return
	}
	e := toError(err)
	p := e.problem()
	h := c.Response().Header()
	id := h.Get(echo.HeaderXRequestID)
	if id != "" {
		p.Instance = &id
	}
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable {
		s.log.LogAttrs(req.Context(), slog.LevelError, "request failed",
			slog.String("request_id", id), slog.String("method", req.Method),
			slog.String("route", c.Path()), slog.Any("err", err))
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="keel"`)
	case http.StatusMethodNotAllowed:
		// The methods the spec documents for the path, in the format OPTIONS
		// sends too.
		if allow := s.allow[c.Path()]; allow != "" {
			h.Set(echo.HeaderAllow, allow)
		}
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	body, _ := json.Marshal(p)
	_ = c.Blob(e.Status, problemJSON, body)
}
