package oidctest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// loginPath is where the example storage's clients send the browser (storage.WebClient's login URL).
const loginPath = "/login/username"

// loginPage is the provider's sign-in form. Its ids are an interface: browser tests select them, and
// signIn reads the hidden fields and the action with the regular expressions below.
var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in – oidctest</title></head>
<body>
<h1>Sign in</h1>
<form id="login" method="post" action="` + loginPath + `">
<input type="hidden" name="authRequestID" value="{{.ID}}">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
{{with .Error}}<p id="error" role="alert">{{.}}</p>
{{end}}<button id="sign-in" type="submit">Sign in</button>
</form>
</body>
</html>
`))

var (
	formAction  = regexp.MustCompile(`<form id="login" method="post" action="([^"]*)">`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	errorText   = regexp.MustCompile(`<p id="error" role="alert">([^<]*)</p>`)
)

// login serves the form and checks what is posted to it.
type login struct {
	// check is the example storage's CheckUsernamePassword: it marks the auth request done.
	check func(username, password, authRequestID string) error
	// callback is where the op resumes the auth request once it is done.
	callback func(ctx context.Context, authRequestID string) string
}

func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		render(w, http.StatusOK, r.URL.Query().Get("authRequestID"), "")
	case http.MethodPost:
		id := r.PostFormValue("authRequestID")
		if err := l.check(r.PostFormValue("username"), r.PostFormValue("password"), id); err != nil {
			render(w, http.StatusUnauthorized, id, err.Error())
			return
		}
		http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	}
}

func render(w http.ResponseWriter, status int, id, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	// An error here is the connection's; the status is already sent.
	_ = loginPage.Execute(w, struct{ ID, Error string }{id, errMsg})
}

// SignIn does what a browser does at the provider: it GETs authorizeURL, follows redirects to the
// login page, submits username and password through the form, and follows the provider's redirects
// until the first one whose target is not the provider, which it returns without following: keel's
// callback URL with code and state (or with error, if the provider refused the request).
//
// authorizeURL is normally the provider's authorize endpoint with keel's parameters, but it may also
// be a keel URL that redirects there; cookies go to and from c's jar either way. c's CheckRedirect is
// not used. SignIn fails the test if the provider shows anything else, such as an error page or the
// form again after a wrong password; [Provider.TrySignIn] returns that as an error instead.
func (p *Provider) SignIn(t testing.TB, c *http.Client, authorizeURL, username, password string) *url.URL {
	t.Helper()
	u, err := p.TrySignIn(t.Context(), c, authorizeURL, username, password)
	if err != nil {
		t.Fatalf("oidctest: sign in as %q: %v", username, err)
	}
	return u
}

// TrySignIn is [Provider.SignIn] returning an error instead of failing the test, for tests of a
// refused sign-in; ctx bounds every request it makes.
func (p *Provider) TrySignIn(ctx context.Context, c *http.Client, authorizeURL, username, password string) (*url.URL, error) {
	if c == nil {
		c = &http.Client{}
	}
	// A copy that stops at every redirect, so that we see where each one goes and stop at keel's.
	browser := *c
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	issuer, err := url.Parse(p.Issuer)
	if err != nil {
		return nil, err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	submitted := false
	for range 20 {
		resp, err := browser.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
		}
		switch {
		case isRedirect(resp.StatusCode):
			to, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("%s %s: %d with a bad Location: %w", req.Method, req.URL, resp.StatusCode, err)
			}
			if to.Scheme != issuer.Scheme || to.Host != issuer.Host {
				if req.URL.Host == issuer.Host {
					return to, nil
				}
				// keel (or whoever authorizeURL named) redirecting, presumably to the provider.
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, to.String(), nil); err != nil {
				return nil, err
			}
		case req.URL.Host == issuer.Host && req.URL.Path == loginPath && !submitted && resp.StatusCode == http.StatusOK:
			if req, err = loginRequest(ctx, req.URL, string(body), username, password); err != nil {
				return nil, err
			}
			submitted = true
		case req.URL.Host == issuer.Host && req.URL.Path == loginPath && resp.StatusCode == http.StatusUnauthorized:
			reason := "no reason shown"
			if m := errorText.FindStringSubmatch(string(body)); m != nil {
				reason = html.UnescapeString(m[1])
			}
			return nil, fmt.Errorf("the provider refused the sign-in: %s", reason)
		default:
			return nil, fmt.Errorf("%s %s: unexpected %s: %s", req.Method, req.URL, resp.Status, snippet(body))
		}
	}
	return nil, errors.New("too many redirects")
}

// loginRequest fills in the login form found in page, which was served at pageURL.
func loginRequest(ctx context.Context, pageURL *url.URL, page, username, password string) (*http.Request, error) {
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no login form at %s: %s", pageURL, snippet([]byte(page)))
	}
	action, err := pageURL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	for _, in := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	form.Set("username", username)
	form.Set("password", password)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// snippet is the start of a response body, enough to tell an error page from another.
func snippet(body []byte) string {
	const limit = 300
	s := strings.TrimSpace(string(body))
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}
