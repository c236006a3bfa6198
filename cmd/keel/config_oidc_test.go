package main

import (
	"slices"
	"strings"
	"testing"
)

// oidcSecret is OIDC_CORP_CLIENT_SECRET in the configuration tests: no error
// text may ever hold it.
const oidcSecret = "corp-client-secret-never-shown-7f3a"

// oidcEnv is a good configuration with one provider, corp, changed by
// change: a key mapped to "" is removed.
func oidcEnv(change map[string]string) map[string]string {
	e := map[string]string{
		"OIDC_PROVIDERS":          "corp",
		"OIDC_CORP_ISSUER":        "https://id.example.com",
		"OIDC_CORP_CLIENT_ID":     "keel",
		"OIDC_CORP_CLIENT_SECRET": oidcSecret,
		"API_URL":                 "https://api.example.com",
		"OAUTH_REDIRECT_URLS":     "https://app.example.com/signed-in",
	}
	for k, v := range change {
		if v == "" {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	return e
}

func TestLoadConfigOIDC(t *testing.T) {
	t.Parallel()
	t.Run("a good provider", func(t *testing.T) {
		cfg, err := loadConfig(env(oidcEnv(nil)))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.OIDCProviders) != 1 {
			t.Fatalf("providers %+v", cfg.OIDCProviders)
		}
		p := cfg.OIDCProviders[0]
		if p.Name != "corp" || p.Issuer != "https://id.example.com" || p.ClientID != "keel" || p.ClientSecret != oidcSecret || len(p.Scopes) != 0 {
			t.Errorf("provider %+v", p)
		}
		if cfg.APIURL != "https://api.example.com" || !slices.Equal(cfg.RedirectURLs, []string{"https://app.example.com/signed-in"}) {
			t.Errorf("API_URL %q, OAUTH_REDIRECT_URLS %q", cfg.APIURL, cfg.RedirectURLs)
		}
		if got := cfg.server().RedirectURLs; !slices.Equal(got, cfg.RedirectURLs) {
			t.Errorf("the server is not given OAUTH_REDIRECT_URLS: %q", got)
		}
	})
	t.Run("API_URL loses a trailing slash; the issuer keeps its own", func(t *testing.T) {
		// Auth0's issuer ends in a slash and its discovery document says so:
		// trimming it would fail discovery's issuer check.
		cfg, err := loadConfig(env(oidcEnv(map[string]string{"API_URL": "https://api.example.com/", "OIDC_CORP_ISSUER": "https://tenant.auth0.com/"})))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.APIURL != "https://api.example.com" || cfg.OIDCProviders[0].Issuer != "https://tenant.auth0.com/" {
			t.Errorf("API_URL %q, issuer %q", cfg.APIURL, cfg.OIDCProviders[0].Issuer)
		}
	})
	t.Run("names with - read OIDC_<NAME>_ with _", func(t *testing.T) {
		cfg, err := loadConfig(env(map[string]string{
			"OIDC_PROVIDERS":            " google , my-idp ",
			"OIDC_GOOGLE_ISSUER":        "https://accounts.google.com",
			"OIDC_GOOGLE_CLIENT_ID":     "g",
			"OIDC_GOOGLE_CLIENT_SECRET": "gs",
			"OIDC_MY_IDP_ISSUER":        "https://idp.example.com/realms/x",
			"OIDC_MY_IDP_CLIENT_ID":     "m",
			"OIDC_MY_IDP_CLIENT_SECRET": "ms",
			"API_URL":                   "http://localhost:8080",
			"OAUTH_REDIRECT_URLS":       "http://localhost:3000/cb, https://app.example.com/cb?from=keel",
		}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range cfg.OIDCProviders {
			got = append(got, p.Name+" "+p.Issuer+" "+p.ClientID+" "+p.ClientSecret)
		}
		want := []string{"google https://accounts.google.com g gs", "my-idp https://idp.example.com/realms/x m ms"}
		if !slices.Equal(got, want) {
			t.Errorf("providers %q, want %q", got, want)
		}
		if want := []string{"http://localhost:3000/cb", "https://app.example.com/cb?from=keel"}; !slices.Equal(cfg.RedirectURLs, want) {
			t.Errorf("OAUTH_REDIRECT_URLS %q, want %q", cfg.RedirectURLs, want)
		}
	})
	t.Run("http on loopback hosts", func(t *testing.T) {
		for _, base := range []string{"http://localhost:8080", "http://LOCALHOST", "http://127.0.0.1:8080", "http://127.1.2.3", "http://[::1]:8080"} {
			cfg, err := loadConfig(env(oidcEnv(map[string]string{"OIDC_CORP_ISSUER": base + "/realms/x", "API_URL": base, "OAUTH_REDIRECT_URLS": base + "/cb"})))
			if err != nil {
				t.Errorf("%s: %v", base, err)
				continue
			}
			if cfg.OIDCProviders[0].Issuer != base+"/realms/x" || cfg.APIURL != base || !slices.Equal(cfg.RedirectURLs, []string{base + "/cb"}) {
				t.Errorf("%s: issuer %q, API_URL %q, OAUTH_REDIRECT_URLS %q", base, cfg.OIDCProviders[0].Issuer, cfg.APIURL, cfg.RedirectURLs)
			}
		}
	})
	t.Run("scopes", func(t *testing.T) {
		for in, want := range map[string][]string{
			"openid email profile":       {"openid", "email", "profile"},
			"openid,email,groups":        {"openid", "email", "groups"},
			" email ,  groups,,openid  ": {"email", "groups", "openid"},
			"email":                      {"email"},
			" , ":                        nil, // nothing: the defaults (oidc.DefaultScopes)
		} {
			cfg, err := loadConfig(env(oidcEnv(map[string]string{"OIDC_CORP_SCOPES": in})))
			if err != nil {
				t.Errorf("OIDC_CORP_SCOPES=%q: %v", in, err)
				continue
			}
			if got := cfg.OIDCProviders[0].Scopes; !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
				t.Errorf("OIDC_CORP_SCOPES=%q: %q, want %q", in, got, want)
			}
		}
	})
	t.Run("trusted audiences", func(t *testing.T) {
		for in, want := range map[string][]string{
			"":                        nil,
			"api-gateway":             {"api-gateway"},
			" api-gateway , other ,,": {"api-gateway", "other"},
		} {
			cfg, err := loadConfig(env(oidcEnv(map[string]string{"OIDC_CORP_TRUSTED_AUDIENCES": in})))
			if err != nil {
				t.Errorf("OIDC_CORP_TRUSTED_AUDIENCES=%q: %v", in, err)
				continue
			}
			if got := cfg.OIDCProviders[0].TrustedAudiences; !slices.Equal(got, want) {
				t.Errorf("OIDC_CORP_TRUSTED_AUDIENCES=%q: %q, want %q", in, got, want)
			}
		}
	})
	t.Run("link by email: off unless true", func(t *testing.T) {
		for in, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, " TRUE ": true, "1": true} {
			cfg, err := loadConfig(env(oidcEnv(map[string]string{"OIDC_CORP_LINK_BY_EMAIL": in})))
			if err != nil {
				t.Errorf("OIDC_CORP_LINK_BY_EMAIL=%q: %v", in, err)
				continue
			}
			if got := cfg.OIDCProviders[0].LinkByEmail; got != want {
				t.Errorf("OIDC_CORP_LINK_BY_EMAIL=%q: %v, want %v", in, got, want)
			}
		}
	})
	t.Run("no providers needs nothing else; API_URL defaults to localhost at ADDR's port", func(t *testing.T) {
		cfg, err := loadConfig(env(nil))
		if err != nil || cfg.OIDCProviders != nil || cfg.APIURL != "http://localhost:8080" || cfg.RedirectURLs != nil {
			t.Errorf("%v %+v %q %q", err, cfg.OIDCProviders, cfg.APIURL, cfg.RedirectURLs)
		}
		if cfg, _ := loadConfig(env(map[string]string{"ADDR": "127.0.0.1:9090"})); cfg.APIURL != "http://localhost:9090" {
			t.Errorf("ADDR=127.0.0.1:9090: API_URL %q", cfg.APIURL)
		}
	})

	bad := []struct {
		name   string
		change map[string]string
		want   string // the variable the error must name
	}{
		{"an upper-case name", map[string]string{"OIDC_PROVIDERS": "Corp"}, "OIDC_PROVIDERS"},
		{"a name starting with a digit", map[string]string{"OIDC_PROVIDERS": "9corp"}, "OIDC_PROVIDERS"},
		{"a name with a dot", map[string]string{"OIDC_PROVIDERS": "corp.example"}, "OIDC_PROVIDERS"},
		{"a name of 33 characters", map[string]string{"OIDC_PROVIDERS": "c" + strings.Repeat("o", 32)}, "OIDC_PROVIDERS"},
		{"a name twice", map[string]string{"OIDC_PROVIDERS": "corp,corp"}, "OIDC_PROVIDERS"},
		// corp-x and corp_x would both read OIDC_CORP_X_*: two providers, one configuration.
		{"two names with the same settings", map[string]string{"OIDC_PROVIDERS": "corp,corp-x,corp_x",
			"OIDC_CORP_X_ISSUER": "https://x.example.com", "OIDC_CORP_X_CLIENT_ID": "x", "OIDC_CORP_X_CLIENT_SECRET": oidcSecret}, "OIDC_PROVIDERS"},
		{"no ISSUER", map[string]string{"OIDC_CORP_ISSUER": ""}, "OIDC_CORP_ISSUER"},
		{"an ISSUER without a scheme", map[string]string{"OIDC_CORP_ISSUER": "id.example.com"}, "OIDC_CORP_ISSUER"},
		{"an ISSUER that is not http(s)", map[string]string{"OIDC_CORP_ISSUER": "ftp://id.example.com"}, "OIDC_CORP_ISSUER"},
		{"a LINK_BY_EMAIL that is not true or false", map[string]string{"OIDC_CORP_LINK_BY_EMAIL": "yes"}, "OIDC_CORP_LINK_BY_EMAIL"},
		{"no CLIENT_ID", map[string]string{"OIDC_CORP_CLIENT_ID": ""}, "OIDC_CORP_CLIENT_ID"},
		{"a blank CLIENT_ID", map[string]string{"OIDC_CORP_CLIENT_ID": "  "}, "OIDC_CORP_CLIENT_ID"},
		{"no CLIENT_SECRET", map[string]string{"OIDC_CORP_CLIENT_SECRET": ""}, "OIDC_CORP_CLIENT_SECRET"},
		{"a blank CLIENT_SECRET", map[string]string{"OIDC_CORP_CLIENT_SECRET": " \t "}, "OIDC_CORP_CLIENT_SECRET"},
		{"a second provider without settings", map[string]string{"OIDC_PROVIDERS": "corp,my-idp"}, "OIDC_MY_IDP_ISSUER"},
		{"no API_URL", map[string]string{"API_URL": ""}, "API_URL"},
		{"an API_URL without a scheme", map[string]string{"API_URL": "api.example.com"}, "API_URL"},
		{"an API_URL with a query", map[string]string{"API_URL": "https://api.example.com/?x=1"}, "API_URL"},
		{"an API_URL with a fragment", map[string]string{"API_URL": "https://api.example.com/#x"}, "API_URL"},
		{"an API_URL that is not http(s)", map[string]string{"API_URL": "ftp://api.example.com"}, "API_URL"},
		{"an API_URL with a password", map[string]string{"API_URL": "https://u:" + oidcSecret + "@api.example.com"}, "API_URL"},
		{"a bad API_URL without providers", map[string]string{"OIDC_PROVIDERS": "", "API_URL": "api.example.com"}, "API_URL"},
		{"no OAUTH_REDIRECT_URLS", map[string]string{"OAUTH_REDIRECT_URLS": ""}, "OAUTH_REDIRECT_URLS"},
		{"OAUTH_REDIRECT_URLS of commas only", map[string]string{"OAUTH_REDIRECT_URLS": " , "}, "OAUTH_REDIRECT_URLS"},
		{"a relative redirect URL", map[string]string{"OAUTH_REDIRECT_URLS": "/signed-in"}, "OAUTH_REDIRECT_URLS"},
		{"a relative redirect URL among good ones", map[string]string{"OAUTH_REDIRECT_URLS": "https://app.example.com/a,app.example.com/b"}, "OAUTH_REDIRECT_URLS"},
		{"a redirect URL with a fragment", map[string]string{"OAUTH_REDIRECT_URLS": "https://app.example.com/#signed-in"}, "OAUTH_REDIRECT_URLS"},
		{"a redirect URL that is not http(s)", map[string]string{"OAUTH_REDIRECT_URLS": "javascript:alert(1)"}, "OAUTH_REDIRECT_URLS"},
		// Plain http only on a loopback host: off it, the network reads
		// and rewrites the sign-in.
		{"an http ISSUER", map[string]string{"OIDC_CORP_ISSUER": "http://id.example.com"}, "OIDC_CORP_ISSUER"},
		{"an http ISSUER on a private address", map[string]string{"OIDC_CORP_ISSUER": "http://10.0.0.1:8080"}, "OIDC_CORP_ISSUER"},
		{"an http ISSUER on a host named like loopback", map[string]string{"OIDC_CORP_ISSUER": "http://localhost.example.com"}, "OIDC_CORP_ISSUER"},
		{"an http API_URL", map[string]string{"API_URL": "http://api.example.com"}, "API_URL"},
		{"an http API_URL on all interfaces", map[string]string{"API_URL": "http://0.0.0.0:8080"}, "API_URL"},
		{"an http redirect URL", map[string]string{"OAUTH_REDIRECT_URLS": "http://app.example.com/signed-in"}, "OAUTH_REDIRECT_URLS"},
		{"an http redirect URL among good ones", map[string]string{"OAUTH_REDIRECT_URLS": "http://localhost:3000/cb,http://app.example.com/cb"}, "OAUTH_REDIRECT_URLS"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := oidcEnv(tt.change)
			_, err := loadConfig(env(e))
			if err == nil {
				t.Fatalf("accepted: %v", e)
			}
			if !strings.Contains(err.Error(), tt.want+"=") {
				t.Errorf("error does not name %s:\n%v", tt.want, err)
			}
			if strings.Contains(err.Error(), oidcSecret) {
				t.Errorf("error shows a client secret:\n%v", err)
			}
		})
	}

	t.Run("every error at once, no secret in any", func(t *testing.T) {
		// Each provider's secret is odd in its own way and every other
		// setting is bad, so every OIDC error path runs at once.
		e := map[string]string{
			"OIDC_PROVIDERS":       "a,b,c,Bad,a",
			"OIDC_A_ISSUER":        "not a url",
			"OIDC_A_CLIENT_SECRET": oidcSecret,
			"OIDC_B_CLIENT_ID":     "b",
			"OIDC_B_CLIENT_SECRET": " " + oidcSecret + " ",
			"OIDC_C_ISSUER":        "https://c.example.com",
			"OIDC_C_CLIENT_SECRET": oidcSecret + "\n",
			"API_URL":              "https://keel:" + oidcSecret + "@api.example.com?x",
			"OAUTH_REDIRECT_URLS":  "/relative",
		}
		_, err := loadConfig(env(e))
		if err == nil {
			t.Fatal("accepted")
		}
		for _, name := range []string{"OIDC_PROVIDERS", "OIDC_A_ISSUER", "OIDC_A_CLIENT_ID", "OIDC_B_ISSUER", "OIDC_C_CLIENT_ID", "API_URL", "OAUTH_REDIRECT_URLS"} {
			if !strings.Contains(err.Error(), name+"=") {
				t.Errorf("error does not name %s", name)
			}
		}
		if strings.Contains(err.Error(), oidcSecret) {
			t.Errorf("error shows a client secret:\n%v", err)
		}
	})
}
