package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// limitBody refuses bodies over BODY_LIMIT with 413, for every operation
// that takes a body (whatever its method): at once when Content-Length says
// so, else when reading passes the limit, so a large body is never read into
// memory. A body sent to an operation that takes none is ignored, never read
// (and never answered with a 413 that operation does not document).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	limit := s.cfg.BodyLimit
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c) // GET and friends: nothing to limit
		}
		if op := s.ops[opKey{req.Method, c.Path()}]; op == nil || !op.body {
			req.Body = http.NoBody
			return next(c)
		}
		// Media types are case-insensitive, but Echo's binder compares them
		// as written: hand it the canonical form.
		if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
			if mt, params, err := mime.ParseMediaType(ct); err == nil {
				req.Header.Set(echo.HeaderContentType, mime.FormatMediaType(mt, params))
			}
		}
		if req.ContentLength > limit {
			return &http.MaxBytesError{Limit: limit}
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		return next(c)
	}
}

// contentSecurityPolicy allows only keel's own scripts and styles; Swagger UI
// needs inline styles and data: images.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// secureHeaders sets the headers every response carries: no MIME sniffing, no
// framing, no referrer, a strict CSP, no caching of API answers (tokens among
// them; the docs assets override it), and HSTS when serving TLS.
func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		// Assigned, not Set: the keys are canonical already and the values
		// are shared, read-only slices, so this allocates nothing per request.
		for k, v := range securityHeaders {
			h[k] = v
		}
		if c.Request().TLS != nil {
			h["Strict-Transport-Security"] = hsts
		}
		return next(c)
	}
}

var (
	securityHeaders = http.Header{
		"X-Content-Type-Options":  {"nosniff"},
		"X-Frame-Options":         {"DENY"},
		"Referrer-Policy":         {"no-referrer"},
		"Content-Security-Policy": {contentSecurityPolicy},
		"Cache-Control":           {"no-store"},
	}
	hsts = []string{"max-age=63072000; includeSubDomains"}
)

// Bodies that encoding/json would accept but read in a way the client may
// not mean. Invalid UTF-8 would silently become U+FFFD (changing a password
// without a word); with a duplicate key, the last one silently wins; data
// after the JSON value would be ignored. keel refuses all three with 400.
var (
	errInvalidUTF8  = errors.New("the request body is not valid UTF-8")
	errDuplicateKey = errors.New("the request body repeats a key in one object")
	errTrailingData = errors.New("the request body has data after its JSON value")
	// A lone surrogate escape such as \ud800 also decodes to U+FFFD.
	errBadUnicode = errors.New("the request body has an invalid Unicode escape or a U+FFFD replacement character")
	// keel's bodies are flat objects; refusing deep nesting early keeps the
	// check's recursion (and the goroutine stack) small.
	errTooDeep = errors.New("the request body nests objects or arrays too deeply")
)

// maxJSONDepth is the deepest nesting of objects and arrays checkJSON reads.
const maxJSONDepth = 32

// isBodyError reports whether err is one of checkJSON's refusals.
func isBodyError(err error) bool {
	switch err {
	case errInvalidUTF8, errDuplicateKey, errTrailingData, errBadUnicode, errTooDeep:
		return true
	}
	return false
}

// bodyError is a request body refused before the spec's validation: not
// readable, or JSON that checkJSON refuses. It becomes a 400 with its text.
type bodyError struct{ detail string }

func (e *bodyError) Error() string { return e.detail }

// readJSONBody reads the request body (limitBody has bounded it), refuses
// what checkJSON refuses, and leaves the bytes for the validator and the
// handler to read again. It runs in the validator's middleware rather than as
// a kin-openapi body decoder, which would be a process-wide registration.
func readJSONBody(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	data, err := io.ReadAll(req.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err // 413
	case err != nil:
		return &bodyError{"the request body could not be read"}
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	if len(data) == 0 {
		return nil // the validator says whether a body is required
	}
	if err := checkJSON(data); err != nil {
		if isBodyError(err) {
			return &bodyError{err.Error()}
		}
		return &bodyError{"the request body is not valid JSON"}
	}
	return nil
}

// checkJSON refuses what encoding/json would read ambiguously, and nesting
// past maxJSONDepth. A syntax error stops it too; the caller reports it as
// malformed JSON.
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

// checkValue reads one JSON value from dec, refusing duplicate keys.
func checkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') && depth >= maxJSONDepth {
		return errTooDeep
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := key.(string)
			if seen[k] {
				return errDuplicateKey
			}
			if strings.ContainsRune(k, utf8.RuneError) {
				return errBadUnicode
			}
			seen[k] = true
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	if s, ok := tok.(string); ok && strings.ContainsRune(s, utf8.RuneError) {
		return errBadUnicode
	}
	return nil
}
