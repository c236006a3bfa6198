package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestEmailVerified: providers send email_verified as a boolean, some as
// the string "true"; anything else, or nothing, is not verified.
func TestEmailVerified(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`true`: true, `"true"`: true, ` true `: true,
		``: false, `false`: false, `"false"`: false, `"yes"`: false, `1`: false, `null`: false,
	} {
		if got := isTrue(json.RawMessage(raw)); got != want {
			t.Errorf("email_verified %s: %v, want %v", raw, got, want)
		}
	}
}

// TestAuthTime: auth_time is a NumericDate (seconds, possibly with a
// fraction, some providers quote it); anything else is no auth time.
func TestAuthTime(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]int64{
		`1767225600`: 1767225600, `1767225600.75`: 1767225600, `"1767225600"`: 1767225600,
		``: 0, `null`: 0, `"yesterday"`: 0, `-5`: 0, `0`: 0, `1e300`: 0, `true`: 0, `{}`: 0,
	} {
		got := unixTime(json.RawMessage(raw))
		if (want == 0) != got.IsZero() || want != 0 && got.Unix() != want {
			t.Errorf("auth_time %s: %v, want %d", raw, got, want)
		}
	}
}

func TestCallbackURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://api.example.com", "https://api.example.com/"} {
		if got := CallbackURL(base, "google"); got != "https://api.example.com/oauth/google/callback" {
			t.Errorf("CallbackURL(%q) = %q", base, got)
		}
	}
}

// TestDiscoverRefuses: an unreachable issuer, a failing one and one whose
// document names another issuer stop Discover with an error naming the
// provider and the issuer, never the secret.
func TestDiscoverRefuses(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad/.well-known/openid-configuration" {
			http.Error(w, "nope", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://someone-else.example", "authorization_endpoint": "x", "token_endpoint": "y", "jwks_uri": "z"})
	}))
	t.Cleanup(other.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for name, issuer := range map[string]string{
		"unreachable":    closed.URL,
		"server error":   other.URL + "/bad",
		"another issuer": other.URL,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Discover(context.Background(), "https://api.example.com",
				[]Config{{Name: "corp", Issuer: issuer, ClientID: "keel", ClientSecret: "s3cret-value"}}, nil)
			if err == nil {
				t.Fatal("Discover succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, `"corp"`) || !strings.Contains(msg, issuer) || strings.Contains(msg, "s3cret-value") {
				t.Errorf("error %q: want the provider and issuer named, and no secret", msg)
			}
		})
	}
}

// TestAuthCodeURL: the provider URL carries keel's state, the nonce, an
// S256 challenge of the verifier (never the verifier itself) and max_age=0,
// so that the provider authenticates the user again and says when.
func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	p := &Provider{name: "corp"}
	p.oauth.ClientID = "keel"
	p.oauth.Endpoint.AuthURL = "https://idp.example/authorize"
	p.oauth.RedirectURL = CallbackURL("https://api.example.com", "corp")
	verifier := Random(32)
	u, err := url.Parse(p.AuthCodeURL("st", "no", verifier))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{"state": "st", "nonce": "no", "code_challenge": S256(verifier), "code_challenge_method": "S256",
		"client_id": "keel", "response_type": "code", "redirect_uri": "https://api.example.com/oauth/corp/callback",
		"max_age": "0"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if strings.Contains(u.String(), verifier) {
		t.Error("the verifier is in the URL")
	}
	if len(verifier) != 43 {
		t.Errorf("Random(32) has %d characters, want 43 (a PKCE verifier)", len(verifier))
	}
}
