package clients

import "testing"

// TestRedirectAllowed: exact match, except that a native client's loopback
// redirect on 127.0.0.1 or [::1] matches on any port (RFC 8252 §7.3), with
// its path and query exactly; not for localhost, not for a web client.
func TestRedirectAllowed(t *testing.T) {
	web := Client{AppType: Web, RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb2?x=1"}}
	native := Client{AppType: Native, RedirectURIs: []string{
		"http://127.0.0.1/cb", "http://[::1]:8080/cb?a=b", "http://localhost:9000/cb", "com.example.app:/oauth",
	}}
	webLoopback := Client{AppType: Web, RedirectURIs: []string{"http://127.0.0.1/cb"}}
	for _, tt := range []struct {
		name string
		c    Client
		uri  string
		want bool
	}{
		{"web: exact", web, "https://app.example/cb", true},
		{"web: exact with query", web, "https://app.example/cb2?x=1", true},
		{"web: other query", web, "https://app.example/cb2?x=2", false},
		{"web: added query", web, "https://app.example/cb?x=1", false},
		{"web: trailing slash", web, "https://app.example/cb/", false},
		{"web: longer path", web, "https://app.example/cb/../evil", false},
		{"web: prefix", web, "https://app.example/c", false},
		{"web: other case", web, "https://APP.example/cb", false},
		{"web: port added", web, "https://app.example:443/cb", false},
		{"web: fragment", web, "https://app.example/cb#x", false},
		{"web: http", web, "http://app.example/cb", false},
		{"web: loopback on another port", webLoopback, "http://127.0.0.1:5000/cb", false},
		{"web: loopback exact", webLoopback, "http://127.0.0.1/cb", true},
		{"native: exact", native, "http://127.0.0.1/cb", true},
		{"native: 127.0.0.1 any port", native, "http://127.0.0.1:51234/cb", true},
		{"native: [::1] any port", native, "http://[::1]:1/cb?a=b", true},
		{"native: [::1] no port", native, "http://[::1]/cb?a=b", true},
		{"native: loopback other path", native, "http://127.0.0.1:51234/cb2", false},
		{"native: loopback path case", native, "http://127.0.0.1:51234/CB", false},
		{"native: loopback other query", native, "http://[::1]:1/cb?a=c", false},
		{"native: loopback query dropped", native, "http://[::1]:1/cb", false},
		{"native: loopback query added", native, "http://127.0.0.1:1/cb?a=b", false},
		{"native: loopback empty query added", native, "http://127.0.0.1:1/cb?", false},
		{"native: loopback fragment", native, "http://127.0.0.1:1/cb#x", false},
		{"native: other address family", native, "http://[::1]:1/cb", false},
		{"native: 127.0.0.2", native, "http://127.0.0.2:1/cb", false},
		{"native: localhost exact", native, "http://localhost:9000/cb", true},
		{"native: localhost other port", native, "http://localhost:9001/cb", false},
		{"native: localhost for 127.0.0.1", native, "http://localhost:5000/cb", false},
		{"native: https on loopback", native, "https://127.0.0.1:5000/cb", false},
		{"native: user info", native, "http://x@127.0.0.1:5000/cb", false},
		{"native: port not a number", native, "http://127.0.0.1:x/cb", false},
		{"native: custom scheme exact", native, "com.example.app:/oauth", true},
		{"native: custom scheme other path", native, "com.example.app:/oauth2", false},
	} {
		if got := tt.c.RedirectAllowed(tt.uri); got != tt.want {
			t.Errorf("%s: RedirectAllowed(%q) = %v, want %v", tt.name, tt.uri, got, tt.want)
		}
	}
	post := Client{AppType: Native, RedirectURIs: []string{"https://a.example/cb"}, PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}}
	if !post.PostLogoutAllowed("http://127.0.0.1:4000/bye") || post.PostLogoutAllowed("https://a.example/cb") {
		t.Error("PostLogoutAllowed: want the post-logout URIs under the same rules, not the redirect URIs")
	}
}
