package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// corsAllowHeaders and corsExposeHeaders are the request headers a browser
// may send cross-origin, and the response headers its script may read.
const (
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-Id"
	corsExposeHeaders = "X-Request-Id, Retry-After, WWW-Authenticate"
)

// corsOrigin returns the Access-Control-Allow-Origin value for origin, or ""
// when CORS_ORIGINS does not list it (or is empty: CORS off).
func (s *Server) corsOrigin(origin string) string {
	switch {
	case origin == "":
		return ""
	case slices.Contains(s.cfg.CORSOrigins, "*"):
		return "*"
	case slices.Contains(s.cfg.CORSOrigins, origin):
		return origin
	}
	return ""
}

// cors lets the origins in CORS_ORIGINS read keel's answers from a browser
// (with a bearer token; no cookies are involved). Preflights are OPTIONS
// operations of the spec, answered by answerOptions. With CORS off it is not
// in the chain at all. keel answers CORS itself rather than with Echo's
// middleware.CORS, which neither refuses a preflight with a documented 403
// problem nor takes Allow from the spec.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	return func(c echo.Context) error {
		if allowed := s.corsOrigin(c.Request().Header.Get("Origin")); allowed != "" && c.Path() != "" {
			h := c.Response().Header()
			h.Set(echo.HeaderAccessControlAllowOrigin, allowed)
			h.Set(echo.HeaderAccessControlExposeHeaders, corsExposeHeaders)
			h.Add(echo.HeaderVary, echo.HeaderOrigin)
		}
		return next(c)
	}
}

// answerOptions is every path's OPTIONS operation: 204 with Allow, plus the
// Access-Control-Allow-* headers for a preflight from an allowed origin; a
// preflight from any other origin gets 403.
func (s *Server) answerOptions(c echo.Context) error {
	allow := s.allow[c.Path()]
	h := c.Response().Header()
	h.Set(echo.HeaderAllow, allow)
	r := c.Request()
	if origin := r.Header.Get(echo.HeaderOrigin); origin != "" && r.Header.Get(echo.HeaderAccessControlRequestMethod) != "" {
		allowed := s.corsOrigin(origin)
		if allowed == "" {
			return errPreflightRefused
		}
		h.Set(echo.HeaderAccessControlAllowMethods, allow)
		h.Set(echo.HeaderAccessControlAllowHeaders, corsAllowHeaders)
		h.Set(echo.HeaderAccessControlMaxAge, "600")
	}
	return c.NoContent(http.StatusNoContent)
}
