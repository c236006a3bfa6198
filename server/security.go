package server

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
)

// limitBody refuses bodies over BODY_LIMIT with 413, for every operation
// that takes a body (whatever its method): at once when Content-Length says
// so, else when reading passes the limit, so a large body is never read into
// memory. A body sent to an operation that takes none is ignored, never read
// (and never answered with a 413 that operation does not document), which
// is why it is not Echo's middleware.BodyLimit: that one limits every request.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	limit := s.cfg.BodyLimit
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c) // GET and friends: nothing to limit
		}
		if op := s.ops[validate.Key{Method: req.Method, Path: c.Path()}]; op == nil || !op.Body {
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
// them; the docs assets override it), and HSTS when serving TLS. Not Echo's
// middleware.Secure: it calls Header().Set for each value on every request
// where this assigns shared slices, and it sends HSTS whenever c.Scheme() is
// https (which X-Forwarded-Proto from a private address can claim), where
// keel sends it only on its own TLS connections.
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

// validateRequests checks each request against its operation of the spec
// (internal/validate) before the handler runs. Echo has already matched the
// route, so the operation is found by Echo's route template in the table
// instead of matching the path again.
func (s *Server) validateRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		op := s.ops[validate.Key{Method: req.Method, Path: c.Path()}]
		if op == nil {
			// No operation: Echo matched the path under other methods (405)
			// or nothing (404).
			if c.Path() == "" {
				return echo.ErrNotFound
			}
			return echo.ErrMethodNotAllowed
		}
		checked, err := s.validator.Check(req, op, pathParams(c))
		if err != nil {
			return err
		}
		if _, signedIn := checked.Context().Value(principalKey{}).(token.Principal); op.Bearer || (op.BearerOptional && signedIn) {
			// After the whole request is found valid, as the handler's own
			// check would be.
			ctx, err := s.sessionLive(checked.Context(), op.ID)
			if err != nil {
				return err
			}
			checked = checked.WithContext(ctx)
		} else if op.Admin {
			ctx, err := s.adminLive(checked.Context(), op)
			if err != nil {
				return err
			}
			checked = checked.WithContext(ctx)
		}
		c.SetRequest(checked)
		return next(c)
	}
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

// authenticate is the validator's check of the spec's bearerAuth scheme: it
// verifies the request's token and returns the context the handler finds
// the principal in. adminAuth's is authenticateAdmin (admin.go).
func (s *Server) authenticate(r *http.Request, op *validate.Operation) (context.Context, error) {
	if op.Admin {
		return s.authenticateAdmin(r)
	}
	raw, ok := bearerToken(r.Header.Get(echo.HeaderAuthorization))
	if !ok {
		return nil, errNoBearer
	}
	p, err := s.tokens.Verify(raw)
	if err != nil {
		return nil, errBadBearer
	}
	return context.WithValue(r.Context(), principalKey{}, p), nil
}

// sessionLive checks that the session of a verified token has not ended
// (logout, password change or reset, deletion, reuse detection): a valid
// token says nothing about that. It asks the database on every request, so
// an ended session is refused at once by every replica. The same query reads
// the session's level and lifetimes (checkLevel), its assurance and its last
// proof of the user, which the operation must allow (checkAssurance), and
// the user, which the returned context carries to the handler (GET
// /profile needs no second query).
func (s *Server) sessionLive(ctx context.Context, operationID string) (context.Context, error) {
	p := mustPrincipal(ctx)
	acc, err := s.store.GetSessionAccess(ctx, p.SessionID, p.UserID)
	if err != nil {
		return nil, err // db.ErrNoSession: the session has ended
	}
	if err := checkLevel(p, acc); err != nil {
		return nil, err
	}
	if needFreshProof[operationID] {
		// Only these few read when the user last proved themselves, with
		// a second query: the bearer check of every other operation (GET
		// /profile) parses no time of the session.
		sess, err := s.store.GetSession(ctx, p.SessionID)
		if err != nil {
			return nil, err
		}
		acc.AuthTime = sess.AuthTime
	}
	if err := checkAssurance(acc, operationID, s.now(), s.reauthMaxAge()); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, accessKey{}, acc), nil
}

// bearerToken takes the token from an Authorization header; the scheme name
// is case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

type principalKey struct{}

// mustPrincipal is whom the validator authenticated; only bearer operations
// call it, and the validator never lets one through without.
func mustPrincipal(ctx context.Context) token.Principal {
	p, ok := ctx.Value(principalKey{}).(token.Principal)
	if !ok {
		panic("bearer operation reached without authentication")
	}
	return p
}
