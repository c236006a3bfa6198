package server

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDocs(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/openapi.yaml", "application/yaml", "openapi: 3.0"},
		{"/openapi.json", "application/json", `"openapi":"3.0`},
		{"/docs", "text/html", "swagger-ui-bundle.js"},
		{"/docs/", "text/html", "swagger-ui-bundle.js"},
		{"/docs/swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"},
		{"/docs/swagger-ui.css", "text/css", ".swagger-ui"},
		{"/docs/init.js", "text/javascript", "/openapi.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := a.do("GET", tt.path, "")
			if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.contentType) {
				t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
	var doc map[string]any
	if err := json.Unmarshal(a.do("GET", "/openapi.json", "").Body.Bytes(), &doc); err != nil || doc["paths"] == nil {
		t.Errorf("openapi.json is not the document: %v", err)
	}
}
