// Package validate checks requests against api/openapi.yaml before a handler
// sees them: the operation table read once from the spec (operations.go),
// kin-openapi's openapi3filter for parameters, bodies and the bearer scheme
// (this file), a strict reading of JSON bodies that encoding/json would
// accept ambiguously (json.go), and keel's reading of `format: email`
// (email.go) and `format: display-name` (name.go). It knows nothing of tokens or sessions: the bearer check is
// the caller's Authenticate hook. Its refusals are errors the caller maps
// to HTTP (ErrNotJSON, *BodyError, openapi3filter's *RequestError and
// *SecurityRequirementsError, *http.MaxBytesError, and the hook's own).
package validate

import (
	"context"
	"errors"
	"mime"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// ErrNotJSON is a request body in another media type than the spec's.
var ErrNotJSON = errors.New("the request body must be application/json")

// Authenticate checks a request's bearer credentials for op and returns the
// context the handler runs with (carrying whom they speak for), or an error
// the caller maps to its answer.
type Authenticate func(r *http.Request, op *Operation) (context.Context, error)

// Validator validates requests against their operations. openapi3filter is
// skipped altogether for operations with nothing to validate (GET /, the
// probes, the docs) or only a bearer token (GET /profile).
type Validator struct {
	opts *openapi3filter.Options
	auth Authenticate
}

// New builds a Validator whose bearer check is auth.
func New(auth Authenticate) *Validator {
	v := &Validator{auth: auth}
	v.opts = &openapi3filter.Options{
		AuthenticationFunc: v.authenticate,
		// kin-openapi would otherwise put the offending value, indented, in
		// every schema error: a password in an error text, and quadratic
		// work for a deeply nested body.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails(), emailFormat, nameFormat, dateTimeFormat},
	}
	v.opts.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string { return e.Reason })
	return v
}

// authResult carries the hook's context out of openapi3filter.
type authResult struct {
	op  *Operation
	ctx context.Context
}

type authResultKey struct{}

// authenticate is openapi3filter's hook for the bearerAuth and adminAuth
// schemes (the hook tells them apart by op).
func (v *Validator) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName == InitialAccessTokenScheme {
		return nil // the handler's to check
	}
	res := ctx.Value(authResultKey{}).(*authResult)
	c, err := v.auth(in.RequestValidationInput.Request, res.op)
	if err != nil {
		return err
	}
	res.ctx = c
	return nil
}

// Check validates req against op (pathParams are the route's, unescaped)
// and returns the request the handler should see: with the context the
// Authenticate hook returned for a bearer operation, and with its body
// (bounded by the caller) read and put back for the handler to read again.
func (v *Validator) Check(req *http.Request, op *Operation, pathParams map[string]string) (*http.Request, error) {
	switch {
	case op.Protocol:
		// pkg/op reads and refuses the protocol's input itself.
	case op.Inputs:
		if op.Body {
			if !isJSON(req) {
				return nil, ErrNotJSON
			}
			if err := readJSONBody(req); err != nil {
				return nil, err
			}
		}
		res := &authResult{op: op}
		in := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      op.Route,
			Options:    v.opts,
		}
		if err := openapi3filter.ValidateRequest(context.WithValue(req.Context(), authResultKey{}, res), in); err != nil {
			return nil, err
		}
		if err := checkText(in, op, pathParams); err != nil {
			return nil, err
		}
		if res.ctx != nil {
			return req.WithContext(res.ctx), nil
		}
		if op.BearerOptional && req.Header.Get("Authorization") != "" {
			// openapi3filter took the anonymous requirement ({}, listed
			// first) and never asked: a token that is sent must be good.
			ctx, err := v.auth(req, op)
			if err != nil {
				return nil, err
			}
			return req.WithContext(ctx), nil
		}
	case op.Bearer, op.Admin, op.BearerOptional && req.Header.Get("Authorization") != "":
		ctx, err := v.auth(req, op)
		if err != nil {
			return nil, err
		}
		return req.WithContext(ctx), nil
	}
	return req, nil
}

// isJSON reports whether the request's body is declared application/json (in
// any letter case, with any parameters), or there is no body to declare: an
// absent body is the validator's to refuse, as "required".
func isJSON(req *http.Request) bool {
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return req.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
