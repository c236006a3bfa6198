package server

import (
	"embed"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/api"
)

// swaggerUI holds Swagger UI's assets, embedded so /docs works with no network.
//
//go:embed swaggerui
var swaggerUI embed.FS

// docsAssets are the files /docs/{asset} serves, with their media types.
var docsAssets = map[string]string{
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"swagger-ui.css":       "text/css; charset=utf-8",
	"init.js":              "text/javascript; charset=utf-8",
	"favicon-32x32.png":    "image/png",
	"favicon-16x16.png":    "image/png",
}

func (s *Server) getOpenAPIYAML(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(http.StatusOK, "application/yaml", api.YAML)
}

func (s *Server) getOpenAPIJSON(c echo.Context) error {
	b, err := api.JSON()
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.JSONBlob(http.StatusOK, b)
}

func (s *Server) getDocs(c echo.Context) error {
	b, err := swaggerUI.ReadFile("swaggerui/index.html")
	if err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, b)
}

// getDocsSlash serves the same page at /docs/: its asset URLs are absolute.
func (s *Server) getDocsSlash(c echo.Context) error { return s.getDocs(c) }

func (s *Server) getDocsAsset(c echo.Context) error {
	name := c.Param("asset")
	mime, ok := docsAssets[name]
	if !ok {
		return echo.ErrNotFound
	}
	b, err := swaggerUI.ReadFile(path.Join("swaggerui", name))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=86400")
	return c.Blob(http.StatusOK, mime, b)
}
