package clients

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// RedirectAllowed reports whether uri, a redirect_uri from an authorization
// request, is one c registered. The match is exact, character for
// character: no prefix, no normalisation, so no open redirector can hide in
// a path, a query or an encoding (RFC 9700 §4.1.3). The one exception is a
// native client's loopback redirect: an app on the user's device listens on
// whatever port the system gives it, so http://127.0.0.1 and http://[::1]
// match a registered one on any port, with the same path and query (RFC
// 8252 §7.3). "localhost" is not one: a name can resolve elsewhere, so it
// must be registered and requested exactly (RFC 8252 §8.3).
func (c Client) RedirectAllowed(uri string) bool {
	return matchURI(c.RedirectURIs, c.AppType, uri)
}

// PostLogoutAllowed reports whether uri, a post_logout_redirect_uri, is one
// c registered, under RedirectAllowed's rules.
func (c Client) PostLogoutAllowed(uri string) bool {
	if c.Dynamic {
		return false // anyone registered it: keel would be an open redirect
	}
	return matchURI(c.PostLogoutRedirectURIs, c.AppType, uri)
}

func matchURI(registered []string, appType, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	if appType != Native {
		return false
	}
	got, ok := loopback(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if want, ok := loopback(r); ok && got.Hostname() == want.Hostname() &&
			got.EscapedPath() == want.EscapedPath() && got.RawQuery == want.RawQuery &&
			got.ForceQuery == want.ForceQuery {
			return true
		}
	}
	return false
}

// loopback parses uri when it is an http URI on a loopback IP literal
// (127.0.0.1 or [::1]), with a port or none, and nothing but a path and a
// query besides.
func loopback(uri string) (*url.URL, bool) {
	if strings.ContainsRune(uri, '#') {
		return nil, false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" {
		return nil, false
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "::1" {
		return nil, false
	}
	if p := u.Port(); p != "" && !digits(p) {
		return nil, false
	}
	return u, true
}

func digits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// ErrRedirectURI is wrapped by every error that says a redirect (or
// post-logout) URI may not be registered, so dynamic registration can
// answer RFC 7591's invalid_redirect_uri for it.
var ErrRedirectURI = errors.New("redirect URI")

// checkURI says why uri may not be registered as a redirect (or
// post-logout) URI of a client of appType, or nil when it may: an absolute
// URI without a fragment (RFC 6749 §3.1.2) or user information; https for
// every client; for a native client also http on a loopback IP literal
// (RFC 8252 §7.3) and a private-use scheme named after a domain, such as
// com.example.app:/callback (RFC 8252 §7.1). A web client has no http: its
// code would cross the network in the clear.
func checkURI(uri, appType string) error {
	if strings.ContainsRune(uri, '#') {
		return fmt.Errorf("%w %q: a fragment is not allowed", ErrRedirectURI, uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrRedirectURI, uri, err)
	}
	if u.Scheme == "" {
		return fmt.Errorf("%w %q: not an absolute URI", ErrRedirectURI, uri)
	}
	if u.User != nil {
		return fmt.Errorf("%w %q: user information is not allowed", ErrRedirectURI, uri)
	}
	switch {
	case u.Scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("%w %q: no host", ErrRedirectURI, uri)
		}
		return nil
	case u.Scheme == "http":
		if appType != Native {
			return fmt.Errorf("%w %q: a web client's redirect URIs are https", ErrRedirectURI, uri)
		}
		if _, ok := loopback(uri); !ok {
			return fmt.Errorf("%w %q: a native client's http redirect URIs are on http://127.0.0.1 or http://[::1] (not localhost, RFC 8252 §8.3)", ErrRedirectURI, uri)
		}
		return nil
	case appType == Native:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("%w %q: a native client's own scheme is a reversed domain name it owns, such as com.example.app (RFC 8252 §7.1)", ErrRedirectURI, uri)
		}
		return nil
	}
	return fmt.Errorf("%w %q: a web client's redirect URIs are https", ErrRedirectURI, uri)
}
