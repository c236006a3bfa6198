package server

import (
	"embed"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

// loginPage holds keel's own sign-in page for the OpenID Provider's login
// step (GET /oauth2/login, the default OP_LOGIN_URL), embedded so it works
// with no network. It is plain HTML, one script and one stylesheet, under
// the same CSP as every answer: no inline script, no third-party origin.
//
//go:embed loginpage
var loginPage embed.FS

// loginPageAssets are the files /oauth2/login/{asset} serves, with their
// media types.
var loginPageAssets = map[string]string{
	"login.js":  "text/javascript; charset=utf-8",
	"login.css": "text/css; charset=utf-8",
	"device.js": "text/javascript; charset=utf-8",
}

// getLoginPage serves the page; it is the provider's, so an install that is
// no provider answers 404 as for the protocol endpoints.
func (s *Server) getLoginPage(c echo.Context) error {
	if s.op == nil {
		return errNotOP
	}
	b, err := loginPage.ReadFile("loginpage/index.html")
	if err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, b)
}

func (s *Server) getLoginPageAsset(c echo.Context) error {
	if s.op == nil {
		return errNotOP
	}
	name := c.Param("asset")
	mime, ok := loginPageAssets[name]
	if !ok {
		return echo.ErrNotFound
	}
	b, err := loginPage.ReadFile(path.Join("loginpage", name))
	if err != nil {
		return err
	}
	// Not cached long: the page and its script change together with keel.
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(http.StatusOK, mime, b)
}

// getDevicePage serves keel's page for the device grant (GET
// /oauth2/device, the default OP_DEVICE_URL): the user signs in, enters the
// code a device shows, sees which client asks and allows or denies it. It
// shares the sign-in page's stylesheet, and its script is among that page's
// assets.
func (s *Server) getDevicePage(c echo.Context) error {
	if s.op == nil {
		return errNotOP
	}
	b, err := loginPage.ReadFile("loginpage/device.html")
	if err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, b)
}
