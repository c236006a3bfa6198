// Package contract checks HTTP exchanges against keel's OpenAPI document, so
// that tests fail on any response the spec does not document. It is used only
// by tests, in-process (Check) or through an http.Client (Transport).
//
// Every response is read twice: by kin-openapi's openapi3filter, as the
// server reads the document, and by second.go's independent reading (its own
// YAML parse and path matching, santhosh-tekuri/jsonschema for the bodies),
// which replaced libopenapi-validator to halve the tests' compile time.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/keelhq/keel/api"
)

func init() {
	// The meta routes answer with media types kin-openapi has no decoder for;
	// their schemas are plain strings, so read them as such.
	for _, mime := range []string{"text/html", "text/css", "text/javascript", "image/png"} {
		openapi3filter.RegisterBodyDecoder(mime, openapi3filter.FileBodyDecoder)
	}
}

// Validator holds the document and its router.
type Validator struct {
	spec    *openapi3.T
	router  routers.Router
	problem *openapi3.Schema
	second  *second
}

// New loads keel's embedded document, with the checker's own reading of
// `format: email` (email.go) scoped to this copy, never the server's.
func New() (*Validator, error) {
	spec, err := api.Load()
	if err != nil {
		return nil, err
	}
	spec.SetStringFormatValidator("email", openapi3.NewCallbackValidator(checkAddrSpec))
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, err
	}
	s, err := newSecond()
	if err != nil {
		return nil, err
	}
	return &Validator{spec: spec, router: router, problem: spec.Components.Schemas["Problem"].Value, second: s}, nil
}

// Check returns an error when the response to req is not one the document
// allows for that operation: an undocumented status, a wrong media type, or a
// body that does not match its schema. A request that matches no operation
// must get a 404 or 405 problem. req's body is not read.
//
// A 500 is always an error, documented or not: nothing a client sends may
// cause one, and this is the one place every test's responses pass through.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if status == http.StatusInternalServerError {
		return fmt.Errorf("%s %s → 500: a client's request must never cause a server error\nbody: %.500s", req.Method, req.URL.Path, body)
	}
	return v.CheckServerFault(req, status, header, body)
}

// CheckServerFault is Check for a test that breaks the server on purpose
// (closes its database): a 500 is expected there, but must still be a
// documented problem.
func (v *Validator) CheckServerFault(req *http.Request, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s matches no operation but got %d, not 404 or 405", req.Method, req.URL.Path, status)
		}
		return v.checkProblem(status, header, body, req.Method)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: v.spec.GetSchemaValidationOptions(),
		},
	}
	if req.Method == http.MethodHead {
		in.Options.ExcludeResponseBody = true
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("%s %s → %d is off-spec: %w\nbody: %.500s", req.Method, req.URL.Path, status, err, body)
	}
	if err := v.second.check(req, status, header, body); err != nil {
		return err
	}
	if status >= 400 && !protocolError(route, header) {
		return v.checkProblem(status, header, body, req.Method)
	}
	return nil
}

// ProtocolErrorsExtension marks an operation of keel's own whose refusals
// are a protocol's documented JSON error, not problem+json: RFC 7591
// registration answers invalid_redirect_uri and invalid_client_metadata as
// its clients expect to read them. The OpenID Provider's endpoints that
// pkg/op serves (x-keel-protocol) are held to the same rule: RFC 6749 §5.2
// JSON, or a plain error page where no redirect may be trusted.
const ProtocolErrorsExtension = "x-keel-protocol-errors"

// protocolError reports whether an error response is such an operation's
// protocol error: one in another media type than problem+json, which
// ValidateResponse has already found documented for the status and
// matching its schema. Its problem+json answers (a body the document
// refuses, a rate limit) are still held to the Problem schema.
func protocolError(route *routers.Route, header http.Header) bool {
	marked, _ := route.Operation.Extensions[ProtocolErrorsExtension].(bool)
	served, _ := route.Operation.Extensions["x-keel-protocol"].(bool)
	return (marked || served) && !strings.HasPrefix(header.Get("Content-Type"), "application/problem+json")
}

// checkProblem checks an error response is RFC 9457 problem+json whose
// status member matches the HTTP status.
func (v *Validator) checkProblem(status int, header http.Header, body []byte, method string) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("%d with Content-Type %q, not application/problem+json", status, ct)
	}
	if method == http.MethodHead {
		return nil
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("%d problem is not JSON: %w", status, err)
	}
	if err := v.problem.VisitJSON(doc); err != nil {
		return fmt.Errorf("%d problem does not match the Problem schema: %w", status, err)
	}
	if got := int(doc.(map[string]any)["status"].(float64)); got != status {
		return fmt.Errorf("problem status %d differs from HTTP status %d", got, status)
	}
	return nil
}

// Transport is an http.RoundTripper that checks every response against the
// document and reports violations to Fail (t.Errorf in tests).
type Transport struct {
	V    *Validator
	Base http.RoundTripper
	Fail func(format string, args ...any)
}

// RoundTrip sends req, checks the answer, and hands it on unchanged.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := t.V.Check(req, res.StatusCode, res.Header, body); err != nil {
		t.Fail("contract: %v", err)
	}
	return res, nil
}
