package server

import (
	"context"
	"mime"
	"net/http"
	"net/url"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
)

// validator checks requests against the spec with kin-openapi's
// openapi3filter. Echo has already matched the route, so the validator finds
// the operation by Echo's route template in a map instead of matching the
// path again, and it skips openapi3filter altogether for operations with
// nothing to validate (GET /, the probes, the docs), or only a bearer token
// (GET /profile).
type validator struct {
	ops  map[opKey]*operation
	opts *openapi3filter.Options
	// auth verifies a request's bearer token; live checks in the database
	// that its session has not ended, on every request (a verified token
	// says nothing about that).
	auth func(*http.Request) (principal, error)
	live func(context.Context, principal) error
}

// newValidator builds the validator over the operation table.
func newValidator(ops map[opKey]*operation, auth func(*http.Request) (principal, error), live func(context.Context, principal) error) *validator {
	v := &validator{ops: ops, auth: auth, live: live}
	v.opts = &openapi3filter.Options{
		AuthenticationFunc: v.authenticate,
		// kin-openapi would otherwise put the offending value, indented, in
		// every schema error: a password in an error text, and quadratic
		// work for a deeply nested body.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails(), emailFormat},
	}
	v.opts.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string { return e.Reason })
	return v
}

type authResultKey struct{}

// authenticate is openapi3filter's hook for the bearerAuth scheme.
func (v *validator) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	p, err := v.auth(in.RequestValidationInput.Request)
	if err != nil {
		return err
	}
	*ctx.Value(authResultKey{}).(*principal) = p
	return nil
}

// middleware validates each request against its operation before the handler
// runs, and puts the authenticated principal (user and session) in the
// request context.
func (v *validator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		op := v.ops[opKey{req.Method, c.Path()}]
		switch {
		case op == nil:
			// No operation: Echo matched the path under other methods (405)
			// or nothing (404).
			if c.Path() == "" {
				return echo.ErrNotFound
			}
			return echo.ErrMethodNotAllowed
		case op.inputs:
			if op.body {
				if !isJSON(req) {
					return errNotJSON
				}
				if err := readJSONBody(req); err != nil {
					return err
				}
			}
			var p principal
			in := &openapi3filter.RequestValidationInput{
				Request:    req,
				PathParams: pathParams(c),
				Route:      op.route,
				Options:    v.opts,
			}
			if err := openapi3filter.ValidateRequest(context.WithValue(req.Context(), authResultKey{}, &p), in); err != nil {
				return err
			}
			if p.userID != 0 {
				if err := v.authenticated(c, op, p); err != nil {
					return err
				}
			}
		case op.bearer:
			p, err := v.auth(req)
			if err != nil {
				return err
			}
			if err := v.authenticated(c, op, p); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// authenticated checks that p's session lives (unless the handler does)
// and puts p in the request's context.
func (v *validator) authenticated(c echo.Context, op *operation, p principal) error {
	req := c.Request()
	if !op.checksSession {
		if err := v.live(req.Context(), p); err != nil {
			return err
		}
	}
	c.SetRequest(req.WithContext(withPrincipal(req.Context(), p)))
	return nil
}

// errNotJSON is a request body in another media type than the spec's.
var errNotJSON = &echo.HTTPError{Code: http.StatusUnsupportedMediaType, Message: "the request body must be application/json"}

// isJSON reports whether the request's body is declared application/json (in
// any letter case, with any parameters), or there is no body to declare: an
// absent body is the validator's to refuse, as "required".
func isJSON(req *http.Request) bool {
	ct := req.Header.Get(echo.HeaderContentType)
	if ct == "" {
		return req.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == echo.MIMEApplicationJSON
}

func pathParams(c echo.Context) map[string]string {
	names := c.ParamNames()
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]string, len(names))
	for i, v := range c.ParamValues() {
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		m[names[i]] = v
	}
	return m
}
