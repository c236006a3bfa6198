package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/validate"
	"github.com/keelhq/keel/internal/ws"
	"github.com/labstack/echo/v4"
)

// TestClientGone: a request whose client went away gets no answer at all
// (the spec documents none for it), and the log and metrics say 499.
func TestClientGone(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(credentials("ada@example.com", "password123"))).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("an answer was written to a client that left: %d %q", rec.Code, rec.Body)
	}
	if logs := a.logs.String(); !strings.Contains(logs, `"route":"/login","status":499`) || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("want a 499 request line and no error:\n%s", logs)
	}
	if m := a.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `keel_http_requests_total{method="POST",route="/login",status="499"} 1`) {
		t.Error("metrics lack the 499")
	}
}

// TestInternalError: a 5xx shows no internal text and is logged with its id.
func TestInternalError(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.store.Close() // every query now fails
	a.broken = true
	rec := a.do("GET", "/", "")
	if rec.Code != 200 {
		t.Fatalf("health needs no database: %d", rec.Code)
	}
	rec = a.do("POST", "/login", credentials("ada@example.com", "password123"), "X-Request-Id", "boom-1")
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "sql") || strings.Contains(rec.Body.String(), "closed") {
		t.Errorf("500 shows internals: %s", rec.Body)
	}
	if !strings.Contains(a.logs.String(), `"request_id":"boom-1"`) || !strings.Contains(a.logs.String(), `"level":"ERROR"`) {
		t.Errorf("500 not logged with its request id:\n%s", a.logs)
	}
}

// TestToError pins what a client is told for each library and storage error
// (the HTTP tests show most of them in context).
func TestToError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want Error
	}{
		{db.ErrNoUser, *errSessionEnded},
		{db.ErrNoSession, *errSessionEnded},
		{fmt.Errorf("wrapped: %w", db.ErrNoSession), *errSessionEnded},
		{db.ErrNoToken, Error{Status: 400, Field: "/token", Detail: "is unknown, used or expired"}},
		{db.ErrEmailTaken, Error{Status: 409, Detail: "an account with this email already exists"}},
		{db.ErrStale, Error{Status: 500}},
		{password.ErrTooLong, Error{Status: 400, Field: "/password", Detail: passwordTooLongReason}},
		{passwordField(password.ErrTooLong, "/new_password"), Error{Status: 400, Field: "/new_password", Detail: passwordTooLongReason}},
		{password.ErrBusy, Error{Status: 503, RetryAfter: time.Second, Detail: "the server is busy checking passwords; retry after the time in Retry-After"}},
		{password.ErrMismatch, *errBadCredentials},
		{validate.ErrNotJSON, Error{Status: 415, Detail: "the request body must be application/json"}},
		{&validate.BodyError{Detail: "x"}, Error{Status: 400, Detail: "x"}},
		{&http.MaxBytesError{Limit: 1}, Error{Status: 413, Detail: "the request body is over the limit"}},
		{&openapi3filter.SecurityRequirementsError{Errors: []error{errBadBearer}}, *errBadBearer},
		{&openapi3filter.SecurityRequirementsError{Errors: []error{db.ErrNoSession}}, *errSessionEnded},
		{&openapi3filter.SecurityRequirementsError{Errors: []error{errors.New("?")}}, *errNoBearer},
		{echo.ErrNotFound, Error{Status: 404, Detail: "no resource at this path"}},
		{echo.ErrMethodNotAllowed, Error{Status: 405, Detail: "this resource does not support the method"}},
		{ws.ErrCrossOrigin, Error{Status: 403, Detail: "cross-origin WebSocket handshakes are refused"}},
		{db.ErrNoFactor, Error{Status: 404, Detail: "no such factor"}},
		{db.ErrFactorExists, Error{Status: 409, Detail: "the account has a verified TOTP factor already; remove it first"}},
		{db.ErrCodeUsed, Error{Status: 400, Field: "/code", Detail: "is wrong, expired or used already"}},
		{errMFARequired, Error{Status: 403, Type: "urn:keel:problem:mfa-required", Title: "Second factor required",
			Detail: "verify a second factor first (POST /mfa/verify)"}},
		{mfa.ErrSealed, Error{Status: 500}},
		{db.ErrNoPasskey, Error{Status: 404, Detail: "no such passkey"}},
		{db.ErrPasskeyTaken, Error{Status: 409, Detail: "this passkey is registered already"}},
		{db.ErrNoCeremony, Error{Status: 400, Field: "/flow_id", Detail: "is unknown, used or expired"}},
		{fmt.Errorf("%w: Error validating origin", passkey.ErrRefused), Error{Status: 401, Detail: "the passkey was not accepted"}},
		{passkey.ErrSignCount, Error{Status: 401, Detail: "the passkey was not accepted"}},
		{errors.New("disk on fire"), Error{Status: 500}},
	} {
		if got := toError(tt.err); *got != tt.want {
			t.Errorf("toError(%v) = %+v, want %+v", tt.err, *got, tt.want)
		}
	}
}
