package server

import (
	"net/mail"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/gen/oapi"
)

// routes builds the Echo router: every route keel serves is listed here.
func (s *Server) routes() *echo.Echo {
	spec, err := api.Spec()
	if err != nil {
		panic("embedded spec: " + err.Error()) // make generate loaded the same document
	}
	ops, err := operations(spec, sessionCheckedByHandler)
	if err != nil {
		panic(err)
	}
	s.ops = ops
	s.allow = allowedMethods(ops)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The client address (for the rate limit) is the peer's, unless the peer
	// is a proxy named in TRUSTED_PROXIES: then it is the last address in
	// X-Forwarded-For that is not a trusted proxy. Nothing is trusted by
	// default, not even loopback or private networks.
	e.IPExtractor = echo.ExtractIPDirect()
	if len(s.cfg.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range s.cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}

	e.Use(
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}),
		s.secureHeaders,
		s.cors,
		s.limitAuth(),
		s.limitBody,
		newValidator(ops, s.bearerUser, s.sessionLive).middleware,
	)

	// The operations of api/openapi.yaml, through the generated strict handler.
	oapi.RegisterHandlers(e, oapi.NewStrictHandler(s, []oapi.StrictMiddlewareFunc{keepUserAgent}))

	// The meta operations, documented in the spec but served by hand.
	e.GET("/metrics", s.getMetrics())
	e.GET("/openapi.yaml", s.getOpenAPIYAML)
	e.GET("/openapi.json", s.getOpenAPIJSON)
	e.GET("/docs", s.getDocs)
	e.GET("/docs/", s.getDocsSlash)
	e.GET("/docs/:asset", s.getDocsAsset)
	e.GET("/ws", s.openWebSocket)
	s.metrics.seedRequests(ops)
	// Every path's OPTIONS operation: Allow, and the CORS preflight.
	for path := range s.allow {
		e.OPTIONS(path, s.answerOptions)
	}
	return e
}

// emailFormat is the server's reading of the spec's `format: email`, given
// to the request validator alone (kin-openapi's global registry stays
// untouched, so the contract checker in tests keeps its own reading).
var emailFormat = openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(checkEmail))

type formatError string

func (e formatError) Error() string { return string(e) }

// checkEmail accepts what the spec promises: a bare RFC 5322 addr-spec in
// ASCII, as net/mail parses it, with no display name, angle brackets or
// surrounding spaces. Internationalized addresses (idn-email) are refused
// rather than stored in a form other clients of the spec cannot expect.
func checkEmail(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsControl(r) }) {
		return formatError("must be an ASCII email address such as ada@example.com")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return formatError("must be an email address such as ada@example.com")
	}
	return nil
}
