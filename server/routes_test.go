package server

import (
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/internal/validate"
	"github.com/labstack/echo/v4"
)

func TestRouting(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/profile/", 404, ""},
		{"DELETE", "/profile/password", 405, "OPTIONS, PUT"},
		{"GET", "/register", 405, "OPTIONS, POST"},
		{"PUT", "/", 405, "GET, OPTIONS"},
		{"GET", "/docs/secret.txt", 404, ""},
		{"GET", "/docs/", 200, ""},
		{"GET", "/docs/" + strings.Repeat("a", 65), 400, ""},
		{"OPTIONS", "/login", 204, "OPTIONS, POST"},
		{"OPTIONS", "/", 204, "GET, OPTIONS"},
		{"OPTIONS", "/nope", 404, ""},
		{"FOO", "/", 405, "GET, OPTIONS"},
		{"GET", "/docs/..%2fserver.go", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := a.do(tt.method, tt.path, "")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

// TestRoutesMatchSpec: every route Echo serves is an operation of the spec,
// and every operation is served.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	doc, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := validate.Read(doc)
	if err != nil {
		t.Fatal(err)
	}
	served := map[validate.Key]bool{}
	for _, r := range a.srv.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		key := validate.Key{Method: r.Method, Path: r.Path}
		served[key] = true
		if ops[key] == nil {
			t.Errorf("%s %s is served but not in the spec", r.Method, r.Path)
		}
	}
	for key := range ops {
		if !served[key] {
			t.Errorf("%s %s is in the spec but not served", key.Method, key.Path)
		}
	}
}
