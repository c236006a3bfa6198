package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/gen/oapi"
)

// Outcomes the handlers report as plain errors; handleError turns each into
// its documented status. Nothing else leaves this file as a client-facing text.
var (
	errEmailTaken     = errors.New("an account with this email already exists")
	errBadCredentials = errors.New("invalid email or password")
	errNotReady       = errors.New("the database does not answer")
	// errWrongPassword is a signed-in user's wrong password (403, not 401:
	// the token is fine, and a client must not take it for a logout).
	errWrongPassword  = errors.New("the password is wrong")
	errUnknownSession = errors.New("no such session")
	// errSessionEnded is a valid access token whose session has ended.
	errSessionEnded = &authError{"the session has ended; log in again"}
	// errBadRefresh is every refused refresh alike: unknown, expired, spent.
	errBadRefresh = &authError{"the refresh token is invalid, expired or spent"}
	// errBadEmailToken is a verification or reset token that is unknown,
	// used or expired.
	errBadEmailToken          = &fieldError{field: "/token", reason: "is unknown, used or expired"}
	errNewPasswordTooLong     = &fieldError{field: "/new_password", reason: errPasswordTooLong.reason}
	errCurrentPasswordTooLong = &fieldError{field: "/current_password", reason: errPasswordTooLong.reason}
)

// fieldError is a request field that fails a check the spec cannot express
// (such as bcrypt's byte limit). It becomes a 400 naming the field.
type fieldError struct{ field, reason string }

func (e *fieldError) Error() string { return e.field + ": " + e.reason }

// authError is a request whose bearer token is missing or invalid.
type authError struct{ reason string }

func (e *authError) Error() string { return e.reason }

// retryLater is a request refused for now: 429 (rate limit) or 503 (bcrypt
// queue full), sent with Retry-After.
type retryLater struct {
	status int
	after  time.Duration
	detail string
}

func (e *retryLater) Error() string { return e.detail }

// retryAfterSeconds is the Retry-After value: whole seconds, at least 1.
func (e *retryLater) retryAfterSeconds() int {
	return max(1, int(math.Ceil(e.after.Seconds())))
}

const problemJSON = "application/problem+json"

// statusClientClosed is what the log and metrics record for a request whose
// client went away before the answer; it is never sent.
const statusClientClosed = 499

// handleError is keel's one Echo HTTPErrorHandler: every error any handler or
// middleware returns becomes an RFC 9457 problem with a documented status.
// Only 5xx are logged, with the request id; their text never reaches the client.
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
	p := problemFor(err)
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	if id != "" {
		p.Instance = &id
	}
	var rl *retryLater
	if errors.As(err, &rl) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(rl.retryAfterSeconds()))
	}
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
		s.log.LogAttrs(req.Context(), slog.LevelError, "request failed",
			slog.String("request_id", id), slog.String("method", req.Method),
			slog.String("route", c.Path()), slog.Any("err", err))
	}
	h := c.Response().Header()
	switch p.Status {
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
		_ = c.NoContent(p.Status)
		return
	}
	body, _ := json.Marshal(p)
	_ = c.Blob(p.Status, problemJSON, body)
}

// problemFor maps an error to the problem the client sees.
func problemFor(err error) oapi.Problem {
	var (
		fe *fieldError
		ae *authError
		he *echo.HTTPError
		me *http.MaxBytesError
		rl *retryLater
		be *bodyError
	)
	var (
		re *openapi3filter.RequestError
		se *openapi3filter.SecurityRequirementsError
	)
	switch {
	case errors.As(err, &me): // however deep: from the validator or a handler
		return problem(http.StatusRequestEntityTooLarge, "the request body is over the limit")
	case errors.As(err, &ae): // from the bearer check, also inside the validator's error
		return problem(http.StatusUnauthorized, ae.reason)
	case errors.As(err, &se):
		return problem(http.StatusUnauthorized, "a bearer token is required")
	case errors.As(err, &be):
		return problem(http.StatusBadRequest, be.detail)
	case errors.As(err, &re):
		return requestProblem(re)
	case errors.As(err, &rl):
		return problem(rl.status, rl.detail)
	case errors.As(err, &fe):
		return validationProblem("the request is invalid", oapi.FieldError{Field: fe.field, Reason: fe.reason})
	case errors.Is(err, errNotReady):
		return problem(http.StatusServiceUnavailable, errNotReady.Error())
	case errors.Is(err, errEmailTaken):
		return problem(http.StatusConflict, errEmailTaken.Error())
	case errors.Is(err, errBadCredentials):
		return problem(http.StatusUnauthorized, err.Error())
	case errors.Is(err, errWrongPassword):
		return problem(http.StatusForbidden, err.Error())
	case errors.Is(err, errUnknownSession):
		return problem(http.StatusNotFound, err.Error())
	case errors.As(err, &he):
		return httpProblem(he)
	}
	return problem(http.StatusInternalServerError, "")
}

// httpProblem maps Echo's own errors: routing, binding, and those handlers
// return as *echo.HTTPError.
func httpProblem(he *echo.HTTPError) oapi.Problem {
	switch {
	case he.Code >= 500:
		return problem(he.Code, "")
	case he.Code == http.StatusNotFound:
		return problem(he.Code, "no resource at this path")
	case he.Code == http.StatusMethodNotAllowed:
		return problem(he.Code, "this resource does not support the method")
	}
	detail, _ := he.Message.(string)
	return problem(he.Code, detail)
}

// requestProblem explains why the request validator refused a request.
func requestProblem(re *openapi3filter.RequestError) oapi.Problem {
	var (
		pe *openapi3filter.ParseError
		se *openapi3.SchemaError
	)
	switch {
	case re.RequestBody != nil && errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return problem(http.StatusBadRequest, "a JSON request body is required")
	case errors.As(re.Err, &pe):
		return problem(http.StatusBadRequest, "the request body is not valid JSON")
	case errors.As(re.Err, &se):
		field := "/" + strings.Join(se.JSONPointer(), "/")
		if re.Parameter != nil {
			field = re.Parameter.Name
		}
		return validationProblem("the request is invalid", oapi.FieldError{Field: field, Reason: se.Reason})
	case re.Parameter != nil:
		return validationProblem("the request is invalid", oapi.FieldError{Field: re.Parameter.Name, Reason: re.Reason})
	}
	return problem(http.StatusBadRequest, "the request is invalid")
}

func problem(status int, detail string) oapi.Problem {
	p := oapi.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status}
	if detail != "" {
		p.Detail = &detail
	}
	return p
}

func validationProblem(detail string, fields ...oapi.FieldError) oapi.Problem {
	p := problem(http.StatusBadRequest, detail)
	p.Errors = &fields
	return p
}
