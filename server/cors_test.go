package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	// preflight sends a browser's CORS preflight through the contract check.
	preflight := func(a *testAPI, path, origin, method string) *httptest.ResponseRecorder {
		return a.do("OPTIONS", path, "", "Origin", origin, "Access-Control-Request-Method", method)
	}
	off := newTestAPI(t)
	if rec := preflight(off, "/login", "https://app.example", "POST"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off: preflight %d %q, want a 403 problem", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if got := off.do("GET", "/", "", "Origin", "https://app.example").Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS on by default: %q", got)
	}
	if rec := off.do("OPTIONS", "/sessions/abc", ""); rec.Code != 204 || rec.Header().Get("Allow") != "DELETE, OPTIONS" {
		t.Errorf("plain OPTIONS: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}

	on := newTestAPI(t, func(c *Config) { c.CORSOrigins = []string{"https://app.example"} })
	for _, tt := range []struct{ path, method string }{{"/login", "POST"}, {"/sessions/abc", "DELETE"}, {"/profile/password", "PUT"}} {
		rec := preflight(on, tt.path, "https://app.example", tt.method)
		h := rec.Header()
		if rec.Code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), tt.method) || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight %s %s from an allowed origin: %d %v", tt.method, tt.path, rec.Code, h)
		}
	}
	if rec := preflight(on, "/login", "https://evil.example", "POST"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %q, want a 403 problem", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if rec := preflight(on, "/nope", "https://app.example", "GET"); rec.Code != 404 {
		t.Errorf("preflight of an unknown path: %d, want 404", rec.Code)
	}
	rec := on.do("GET", "/", "", "Origin", "https://app.example")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example" || !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple request: %q %v", got, rec.Header())
	}
}
