package server

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestLoginPage: keel's own sign-in page (GET /oauth2/login) and its assets
// are served from the binary under the strict CSP, the page carries no
// inline script (the CSP would block it) and loads nothing from another
// origin; an install that is no OpenID Provider answers 404. What the page
// does is TestBrowserLoginPage's (cmd/keel), in a real browser.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/oauth2/login?request_id=abc", "text/html", `src="login/login.js"`},
		{"/oauth2/login", "text/html", `<label for="password">`},
		{"/oauth2/login/login.js", "text/javascript", "/oauth2/requests/"},
		{"/oauth2/login/login.css", "text/css", "#error"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := a.do("GET", tt.path, "")
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.contentType) {
				t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") ||
				strings.Contains(csp, "unsafe-inline';") && strings.Contains(csp, "script-src") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
	page := a.do("GET", "/oauth2/login", "").Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body: inline
		regexp.MustCompile(`\son[a-z]+\s*=`),                // an inline event handler
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),  // another origin
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the page holds %q: the CSP forbids it, or it needs the network", m)
		}
	}
	a.status(a.do("GET", "/oauth2/login/other.js", ""), http.StatusNotFound, "an unknown asset")

	off := newTestAPI(t)
	for _, path := range []string{"/oauth2/login?request_id=x", "/oauth2/login/login.js"} {
		off.status(off.do("GET", path, ""), http.StatusNotFound, path+" without the provider")
	}
}
