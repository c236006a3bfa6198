package contract

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestEmailFormat: the checker's own reading of `format: email` refuses what
// the spec's RFC 5322 addr-spec forbids, whatever rule the server registers.
func TestEmailFormat(t *testing.T) {
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{"ada@example.com", true},
		{"a.b+tag@sub.example.co", true},
		{"ñandú@example.com", false},
		{" ada@example.com", false},
		{"ada@example.com ", false},
		{"Ada <ada@example.com>", false},
		{"ada@localhost", false},
		{"ada..b@example.com", false},
		{"ada@-example.com", false},
		{"ada@exämple.com", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".com", false}, // 260 bytes
	} {
		if err := checkAddrSpec(tt.email); (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok=%v", tt.email, err, tt.ok)
		}
	}
}

// TestCheckResponses: a profile with a non-ASCII email is off-spec, and a 500
// is refused even where the spec documents one.
func TestCheckResponses(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	profile := httptest.NewRequest("GET", "/profile", nil)
	profile.Header.Set("Authorization", "Bearer x")
	good := `{"id":1,"email":"ada@example.com","created_at":"2026-11-25T10:00:00Z","email_verified":false,"user_metadata":{}}`
	bad := strings.Replace(good, "ada@", "ñandú@", 1)
	if err := v.Check(profile, 200, h, []byte(good)); err != nil {
		t.Errorf("a good profile: %v", err)
	}
	if err := v.Check(profile, 200, h, []byte(bad)); err == nil {
		t.Error("a profile with a UTF-8 local part passed the contract")
	}
	register := httptest.NewRequest("POST", "/register", nil)
	p := http.Header{"Content-Type": {"application/problem+json"}}
	if err := v.Check(register, 500, p, []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)); err == nil {
		t.Error("a 500 passed the contract")
	}
}

// TestSecondReading: the second reading on its own (not behind kin-openapi)
// refuses what the document does not allow and accepts what it does.
func TestSecondReading(t *testing.T) {
	s, err := newSecond()
	if err != nil {
		t.Fatal(err)
	}
	const good = `{"id":1,"email":"ada@example.com","created_at":"2026-11-25T10:00:00Z","email_verified":false,"user_metadata":{}}`
	const problem401 = `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"a bearer token is required"}`
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	problemCT := http.Header{"Content-Type": {"application/problem+json"}}
	for _, tt := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"good profile", "GET", "/profile", 200, jsonCT, good, true},
		{"good profile, charset parameter", "GET", "/profile", 200, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, good, true},
		{"problem 401 on a bearer route", "GET", "/profile", 401, problemCT, problem401, true},
		{"problem on a templated path", "DELETE", "/sessions/abc", 404, problemCT, `{"type":"about:blank","title":"Not Found","status":404}`, true},
		{"session list", "GET", "/sessions", 200, jsonCT, `[{"id":"abc","created_at":"2026-11-25T10:00:00Z","last_used_at":"2026-11-25T10:00:00.5+01:00","user_agent":"","current":true,"aal":"aal1"}]`, true},
		{"token", "POST", "/login", 200, jsonCT, `{"token":"t","token_type":"Bearer","expires_in":900,"refresh_token":"r","refresh_expires_in":2592000}`, true},
		{"health", "GET", "/", 200, jsonCT, `{"status":"ok"}`, true},
		{"id as a string", "GET", "/profile", 200, jsonCT, strings.Replace(good, `"id":1`, `"id":"1"`, 1), false},
		{"id below its minimum", "GET", "/profile", 200, jsonCT, strings.Replace(good, `"id":1`, `"id":0`, 1), false},
		{"id not an integer", "GET", "/profile", 200, jsonCT, strings.Replace(good, `"id":1`, `"id":1.5`, 1), false},
		{"required property missing", "GET", "/profile", 200, jsonCT, strings.Replace(good, `,"email_verified":false`, "", 1), false},
		{"extra property where additionalProperties is false", "GET", "/profile", 200, jsonCT, strings.Replace(good, `}`, `,"password":"x"}`, 1), false},
		{"extra property in an array item", "GET", "/sessions", 200, jsonCT, `[{"id":"abc","created_at":"2026-11-25T10:00:00Z","last_used_at":"2026-11-25T10:00:00Z","user_agent":"","current":true,"user_id":1}]`, false},
		{"bad date-time", "GET", "/profile", 200, jsonCT, strings.Replace(good, "2026-11-25T10:00:00Z", "2026-11-25 10:00", 1), false},
		{"date-time without a zone", "GET", "/profile", 200, jsonCT, strings.Replace(good, "2026-11-25T10:00:00Z", "2026-11-25T10:00:00", 1), false},
		{"non-ASCII email", "GET", "/profile", 200, jsonCT, strings.Replace(good, "ada@", "ñandú@", 1), false},
		{"enum value off the list", "POST", "/login", 200, jsonCT, `{"token":"t","token_type":"bearer","expires_in":900,"refresh_token":"r","refresh_expires_in":2592000}`, false},
		{"problem status out of range", "GET", "/profile", 401, problemCT, `{"type":"about:blank","title":"Unauthorized","status":200}`, false},
		{"undocumented status", "GET", "/profile", 404, problemCT, `{"type":"about:blank","title":"Not Found","status":404}`, false},
		{"wrong media type", "GET", "/profile", 200, problemCT, good, false},
		{"problem sent as plain JSON", "GET", "/profile", 401, jsonCT, problem401, false},
		{"unknown path", "GET", "/profiles", 200, jsonCT, good, false},
		{"empty path parameter", "DELETE", "/sessions/", 404, problemCT, `{"type":"about:blank","title":"Not Found","status":404}`, false},
		{"undocumented method", "PUT", "/profile", 200, jsonCT, good, false},
		{"body not JSON", "GET", "/profile", 200, jsonCT, `{"id":1`, false},
		{"trailing data after the body", "GET", "/profile", 200, jsonCT, good + `{}`, false},
		{"a body where none is documented", "POST", "/logout", 204, jsonCT, `{}`, false},
		{"not JSON: left to kin-openapi", "GET", "/docs", 200, http.Header{"Content-Type": {"text/html"}}, "<html>", true},
		{"HEAD: left to kin-openapi", "HEAD", "/profile", 200, jsonCT, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.check(httptest.NewRequest(tt.method, tt.path, nil), tt.status, tt.header, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "off-spec for the second reading") {
				t.Errorf("error text %q", err)
			}
		})
	}
}

// TestSecondRoute: a literal path beats a template that matches it too, and
// a template matches only one whole segment.
func TestSecondRoute(t *testing.T) {
	s, err := newSecond()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/":                 "/",
		"/docs":             "/docs",
		"/docs/":            "/docs/",
		"/docs/index.css":   "/docs/{asset}",
		"/sessions/abc":     "/sessions/{id}",
		"/sessions/a%2Fb":   "/sessions/{id}",
		"/profile/password": "/profile/password",
		"/sessions/a/b":     "",
		"/docs/a/b":         "",
	} {
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.route(u); got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
	// The document has no literal path beside a template of the same shape,
	// so the precedence is shown on templates of its own.
	lit, tmpl := strings.Split("/sessions/current", "/"), strings.Split("/sessions/{id}", "/")
	if !moreLiteral(lit, tmpl) || moreLiteral(tmpl, lit) {
		t.Error("/sessions/current does not take precedence over /sessions/{id}")
	}
}
