package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBodyLimitAnyMethod: BODY_LIMIT holds for every operation with a body,
// not only POST ones (PUT /profile/password, DELETE /profile).
func TestBodyLimitAnyMethod(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = 1024 })
	a.mustRegister("ada@example.com", "password123")
	token := a.mustLogin("ada@example.com", "password123")
	big := `{"current_password":"password123","new_password":"` + strings.Repeat("p", 2000) + `"}`
	for _, tt := range []struct{ method, path, body string }{
		{"PUT", "/profile/password", big},
		{"DELETE", "/profile", `{"password":"` + strings.Repeat("p", 2000) + `"}`},
	} {
		if rec := a.do(tt.method, tt.path, tt.body, "Authorization", "Bearer "+token); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a body over the limit: %d %s", tt.method, tt.path, rec.Code, rec.Body)
		}
	}
}

// TestBodyIgnoredWhereNoneIsTaken: a body sent to an operation that takes
// none is never read: no 413 (which those operations do not document).
func TestBodyIgnoredWhereNoneIsTaken(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = 1024 })
	a.mustRegister("ada@example.com", "password123")
	bearer := "Bearer " + a.mustLogin("ada@example.com", "password123")
	big := strings.Repeat("x", 4096)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/profile", 200},
		{"GET", "/sessions", 200},
		{"GET", "/healthz", 200},
		{"POST", "/logout", 204},
	} {
		if rec := a.do(tt.method, tt.path, big, "Authorization", bearer); rec.Code != tt.status {
			t.Errorf("%s %s with a 4 KiB body: %d, want %d: %s", tt.method, tt.path, rec.Code, tt.status, rec.Body)
		}
	}
}

// TestMediaTypes: the request body's media type is read as RFC 9110 says
// (any letter case, parameters allowed), and anything but JSON is a 415.
func TestMediaTypes(t *testing.T) {
	a := newTestAPI(t)
	body := credentials("ada@example.com", "password123")
	for _, tt := range []struct {
		contentType string
		status      int
	}{
		{"Application/JSON; charset=utf-8", 201},
		{"text/plain", 415},
		{"application/jsonx", 415},
		{"application/json;;", 415},
	} {
		if rec := a.do("POST", "/register", body, "Content-Type", tt.contentType); rec.Code != tt.status {
			t.Errorf("Content-Type %q: %d, want %d: %s", tt.contentType, rec.Code, tt.status, rec.Body)
		}
	}
}

// TestClientGone: a request whose client went away gets no answer at all
// (the spec documents none for it), and the log and metrics say 499.
func TestClientGone(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(credentials("ada@example.com", "password123"))).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("an answer was written to a client that left: %d %q", rec.Code, rec.Body)
	}
	if logs := a.logs.String(); !strings.Contains(logs, `"route":"/login","status":499`) || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("want a 499 request line and no error:\n%s", logs)
	}
	if m := a.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `keel_http_requests_total{method="POST",route="/login",status="499"} 1`) {
		t.Error("metrics lack the 499")
	}
}
