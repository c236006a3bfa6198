package server

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/validate"
)

// routes builds the Echo router: every route keel serves is listed here.
func (s *Server) routes() *echo.Echo {
	spec, err := api.Spec()
	if err != nil {
		panic("embedded spec: " + err.Error()) // make generate loaded the same document
	}
	ops, err := validate.Read(spec)
	if err != nil {
		panic(err)
	}
	s.ops = ops
	s.allow = ops.Allow()
	s.validator = validate.New(s.authenticate)
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

	e.Use(chain(
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}),
		s.secureHeaders,
		s.cors,
		s.limitBody,
		s.validateRequests,
		s.limitAuth(), // after validation: a request keel refuses spends no budget
	))

	// The operations of api/openapi.yaml, through the generated strict handler.
	oapi.RegisterHandlers(e, oapi.NewStrictHandler(s, []oapi.StrictMiddlewareFunc{keepRequestInfo(readsOf(ops)), keepAuthorization}))

	// The meta operations, documented in the spec but served by hand.
	e.GET("/metrics", s.getMetrics())
	e.GET("/openapi.yaml", s.getOpenAPIYAML)
	e.GET("/openapi.json", s.getOpenAPIJSON)
	e.GET("/docs", s.getDocs)
	e.GET("/docs/", s.getDocsSlash)
	e.GET("/docs/:asset", s.getDocsAsset)
	e.GET("/oauth2/login", s.getLoginPage)
	e.GET("/oauth2/login/:asset", s.getLoginPageAsset)
	e.GET("/oauth2/device", s.getDevicePage)
	e.GET("/ws", s.openWebSocket)
	// The OpenID Provider's protocol endpoints, served by pkg/op.
	for key, op := range ops {
		if op.Protocol {
			e.Add(key.Method, key.Path, s.serveProvider)
		}
	}
	s.metrics.seedRequests(ops)
	// Every path's OPTIONS operation: Allow, and the CORS preflight.
	for path := range s.allow {
		e.OPTIONS(path, s.answerOptions)
	}
	return e
}

// chain is the middleware, outermost first, as one middleware built once.
// Echo's own e.Use(m...) wraps every middleware around the route's handler
// anew for each request (a closure each, seven per request); this chain is
// wrapped once, around the handler the router found for the request, so a
// request allocates none of it.
func chain(middleware ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := func(c echo.Context) error { return c.Handler()(c) }
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}
