package clients

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRegister: what may be registered, and the defaults. Each refusal
// names its rule (the error says which).
func TestRegister(t *testing.T) {
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	web := []string{"https://app.example/cb"}
	cc := []string{GrantClientCredentials}
	for _, tt := range []struct {
		name string
		r    Registration
		want string // a part of the error; "" when it registers
	}{
		{"a confidential web client", Registration{Name: "App", RedirectURIs: web}, ""},
		{"a public web client (a SPA)", Registration{Name: "SPA", Public: true, RedirectURIs: web}, ""},
		{"a public native client on loopback", Registration{Name: "CLI", Public: true, Native: true,
			RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]:7/cb"}}, ""},
		{"a native client's own scheme", Registration{Name: "Mobile", Public: true, Native: true,
			RedirectURIs: []string{"com.example.app:/oauth", "com.example.app:/logout"}}, ""},
		{"a machine client", Registration{Name: "Cron", GrantTypes: cc, Scopes: []string{ScopeAdmin}}, ""},
		{"a device client", Registration{Name: "TV", Public: true, GrantTypes: []string{GrantDeviceCode, GrantRefreshToken}}, ""},
		{"a dynamic public client", Registration{Name: "Agent", Public: true, Native: true, Dynamic: true,
			RedirectURIs: []string{"http://127.0.0.1/cb"}}, ""},
		{"post-logout URIs", Registration{Name: "App", RedirectURIs: web, PostLogoutRedirectURIs: []string{"https://app.example/bye"}}, ""},

		{"no name", Registration{RedirectURIs: web}, "name"},
		{"a blank name", Registration{Name: "  ", RedirectURIs: web}, "name"},
		{"a name too long", Registration{Name: strings.Repeat("é", MaxNameLength+1), RedirectURIs: web}, "name"},
		{"a control character in the name", Registration{Name: "A\x1bpp", RedirectURIs: web}, "printable"},
		{"a bidi override in the name", Registration{Name: "App\u202egnp.exe", RedirectURIs: web}, "printable"},
		{"a line separator in the name", Registration{Name: "App\u2028Other", RedirectURIs: web}, "printable"},
		{"code without a redirect URI", Registration{Name: "App"}, "needs a redirect URI"},
		{"a relative redirect URI", Registration{Name: "App", RedirectURIs: []string{"/cb"}}, "absolute"},
		{"a fragment", Registration{Name: "App", RedirectURIs: []string{"https://app.example/cb#x"}}, "fragment"},
		{"an empty fragment", Registration{Name: "App", RedirectURIs: []string{"https://app.example/cb#"}}, "fragment"},
		{"user information", Registration{Name: "App", RedirectURIs: []string{"https://u:p@app.example/cb"}}, "user information"},
		{"https without a host", Registration{Name: "App", RedirectURIs: []string{"https:/cb"}}, "no host"},
		{"http for a web client", Registration{Name: "App", RedirectURIs: []string{"http://app.example/cb"}}, "https"},
		{"loopback http for a web client", Registration{Name: "App", RedirectURIs: []string{"http://127.0.0.1/cb"}}, "https"},
		{"a custom scheme for a web client", Registration{Name: "App", RedirectURIs: []string{"com.example.app:/cb"}}, "https"},
		{"http on a public host for a native client", Registration{Name: "CLI", Public: true, Native: true,
			RedirectURIs: []string{"http://app.example/cb"}}, "127.0.0.1"},
		{"http on localhost for a native client", Registration{Name: "CLI", Public: true, Native: true,
			RedirectURIs: []string{"http://localhost:8080/cb"}}, "not localhost"},
		{"a scheme that is no domain", Registration{Name: "CLI", Public: true, Native: true,
			RedirectURIs: []string{"myapp:/cb"}}, "reversed domain"},
		{"javascript:", Registration{Name: "CLI", Public: true, Native: true,
			RedirectURIs: []string{"javascript:alert(1)"}}, "reversed domain"},
		{"a bad post-logout URI", Registration{Name: "App", RedirectURIs: web, PostLogoutRedirectURIs: []string{"http://app.example/"}}, "post-logout"},
		{"an unknown grant", Registration{Name: "App", RedirectURIs: web, GrantTypes: []string{"password"}}, `grant "password"`},
		{"implicit", Registration{Name: "App", RedirectURIs: web, GrantTypes: []string{"implicit"}}, `grant "implicit"`},
		{"a grant twice", Registration{Name: "App", RedirectURIs: web,
			GrantTypes: []string{GrantAuthorizationCode, GrantAuthorizationCode}}, "twice"},
		{"an unknown scope", Registration{Name: "App", RedirectURIs: web, Scopes: []string{"openid", "phone"}}, `scope "phone"`},
		{"refresh_token alone", Registration{Name: "App", GrantTypes: []string{GrantRefreshToken}}, "refresh_token"},
		{"refresh_token with client_credentials", Registration{Name: "App", GrantTypes: []string{GrantClientCredentials, GrantRefreshToken}}, "refresh_token"},
		{"client_credentials for a public client", Registration{Name: "App", Public: true, GrantTypes: cc}, "confidential clients"},
		{"client_credentials for a dynamic client", Registration{Name: "App", Dynamic: true, GrantTypes: cc}, "registered itself"},
		{"admin for a public client", Registration{Name: "App", Public: true, RedirectURIs: web, Scopes: []string{ScopeAdmin}}, "admin"},
		{"admin for a dynamic confidential client", Registration{Name: "App", Dynamic: true, RedirectURIs: web,
			Scopes: []string{ScopeOpenID, ScopeAdmin}}, "admin"},
		{"admin for a code client", Registration{Name: "App", RedirectURIs: web, Scopes: []string{ScopeOpenID, ScopeAdmin}}, "admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, secret, err := Register(tt.r, now)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Register: %v; want an error saying %q", err, tt.want)
				}
				if c.ID != "" || secret != "" {
					t.Errorf("a refused registration returned a client %q or a secret", c.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.ID, IDPrefix) || !c.CreatedAt.Equal(now) || c.Dynamic != tt.r.Dynamic {
				t.Errorf("client %+v: want a kc_ id, created now, Dynamic %v", c, tt.r.Dynamic)
			}
			if tt.r.Public != (c.Kind == Public) || tt.r.Native != (c.AppType == Native) {
				t.Errorf("kind %s, application type %s: want public %v, native %v", c.Kind, c.AppType, tt.r.Public, tt.r.Native)
			}
			if tt.r.Public != (secret == "") || !c.CheckSecret(secret) != tt.r.Public {
				t.Errorf("public %v: secret %q, hash %q; want a secret that checks exactly when confidential", tt.r.Public, secret, c.SecretHash)
			}
		})
	}
}

// TestRegisterDefaults: no grants means code and refresh; no scopes means
// openid, profile, email, and offline_access with refresh tokens.
func TestRegisterDefaults(t *testing.T) {
	c, _, err := Register(Registration{Name: "App", RedirectURIs: []string{"https://a.example/cb"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{GrantAuthorizationCode, GrantRefreshToken}; !slices.Equal(c.GrantTypes, want) {
		t.Errorf("grants %v, want %v", c.GrantTypes, want)
	}
	if want := []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}; !slices.Equal(c.Scopes, want) {
		t.Errorf("scopes %v, want %v", c.Scopes, want)
	}
	c, _, err = Register(Registration{Name: "App", RedirectURIs: []string{"https://a.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ScopeOpenID, ScopeProfile, ScopeEmail}; !slices.Equal(c.Scopes, want) {
		t.Errorf("scopes without refresh tokens %v, want %v", c.Scopes, want)
	}
}

// TestValidateStored: a stored client is held to the kind's secret rule.
func TestValidateStored(t *testing.T) {
	_, hash := NewSecret()
	base := Client{ID: NewID(), Name: "App", AppType: Web, GrantTypes: []string{GrantClientCredentials}}
	for _, tt := range []struct {
		name string
		kind string
		hash string
		ok   bool
	}{
		{"confidential with a hash", Confidential, hash, true},
		{"confidential without", Confidential, "", false},
		{"confidential with an upper-case hash", Confidential, strings.ToUpper(hash), false},
		{"public with a hash", Public, hash, false},
		{"another kind", "secret", hash, false},
	} {
		c := base
		c.Kind, c.SecretHash = tt.kind, tt.hash
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	c := base
	c.Kind, c.SecretHash, c.AppType = Confidential, hash, "desktop"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "application type") {
		t.Errorf("application type desktop: %v", err)
	}
}
