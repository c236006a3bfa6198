package server

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// testDCRToken is the tests' OP_DCR_INITIAL_ACCESS_TOKEN.
const testDCRToken = "dcr-initial-access-token-0123456789abcdef"

// dcrOn turns dynamic registration on, with the initial access token.
func dcrOn(c *Config) {
	c.DynamicRegistration = true
	c.DCRInitialAccessToken = testDCRToken
}

// registerClient posts metadata to POST /oauth2/register, with the
// Authorization header auth when not empty.
func (a *testAPI) registerClient(metadata map[string]any, auth string) *httptest.ResponseRecorder {
	a.t.Helper()
	b, err := json.Marshal(metadata)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth == "" {
		return a.do("POST", "/oauth2/register", string(b))
	}
	return a.do("POST", "/oauth2/register", string(b), "Authorization", auth)
}

// registryOf is the test's store as the client registry.
func (a *testAPI) registryOf() clients.Store {
	a.t.Helper()
	s, ok := a.store.(clients.Store)
	if !ok {
		a.t.Fatalf("%T keeps no clients", a.store)
	}
	return s
}

// registrationError decodes RFC 7591's error, which is JSON, not problem+json.
func registrationError(t *testing.T, rec *httptest.ResponseRecorder) oapi.ClientRegistrationError {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("refusal Content-Type %q, want application/json (RFC 7591 §3.2.2)", ct)
	}
	return decode[oapi.ClientRegistrationError](t, rec)
}

// agent is an MCP client's registration: public, native, loopback redirect.
func agent() map[string]any {
	return map[string]any{
		"client_name": "Claude Desktop", "redirect_uris": []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "none", "application_type": "native",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid profile email offline_access",
		// Metadata keel does not read is ignored (RFC 7591 §2).
		"logo_uri": "https://agent.example/logo.png", "contacts": []string{"ops@agent.example"}, "software_id": "x",
	}
}

// TestDynamicRegistration: RFC 7591 at POST /oauth2/register. Off by
// default, and on an install that is no OpenID Provider (404, and no
// registration_endpoint); on, a public client
// registers without a secret and is stored as asked, dynamic; a
// confidential one needs the initial access token (400
// invalid_client_metadata without, 401 with a wrong one) and gets a secret
// that hashes to the stored hash; client_credentials, admin and bad
// redirect URIs are refused with RFC 7591's errors, storing nothing; no
// secret or token reaches the log.
func TestDynamicRegistration(t *testing.T) {
	t.Parallel()
	// Off: by default on a provider, and on an install that is no provider
	// (HS256) even with the setting on.
	for name, a := range map[string]*testAPI{"off": newOPAPI(t).testAPI, "on, but no provider": newTestAPI(t, dcrOn)} {
		rec := a.status(a.registerClient(agent(), ""), 404, name+": registration")
		if p := problemOf(t, rec); !strings.Contains(*p.Detail, "off") {
			t.Errorf("%s: detail %q", name, *p.Detail)
		}
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			doc := decode[oapi.OpenIDConfiguration](t, a.status(a.do("GET", path, ""), 200, name+": "+path))
			if doc.RegistrationEndpoint != nil {
				t.Errorf("%s: %s names registration_endpoint %q", name, path, *doc.RegistrationEndpoint)
			}
		}
		if list, err := a.registryOf().ListClients(t.Context()); err != nil || len(list) != 0 {
			t.Errorf("%s: clients %v, %v; want none", name, list, err)
		}
	}

	op := newOPAPIWith(t, dcrOn)
	a := op.testAPI
	doc := decode[oapi.OpenIDConfiguration](t, a.status(a.do("GET", "/.well-known/openid-configuration", ""), 200, "discovery"))
	if doc.RegistrationEndpoint == nil || *doc.RegistrationEndpoint != op.url+"/oauth2/register" {
		t.Errorf("registration_endpoint %v, want %s/oauth2/register", doc.RegistrationEndpoint, op.url)
	}
	registry := a.registryOf()

	t.Run("a public client", func(t *testing.T) {
		rec := a.status(a.registerClient(agent(), ""), 201, "public registration")
		got := decode[oapi.ClientRegistration](t, rec)
		if !strings.HasPrefix(got.ClientID, clients.IDPrefix) || got.ClientSecret != nil || got.ClientSecretExpiresAt != nil ||
			strings.Contains(rec.Body.String(), "client_secret") {
			t.Errorf("answer %s: want a kc_ id and no secret", rec.Body)
		}
		want := oapi.ClientRegistration{
			ClientID: got.ClientID, ClientIDIssuedAt: a.clock.Now().Unix(), ClientName: "Claude Desktop",
			RedirectUris: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, Scope: "openid profile email offline_access",
			TokenEndpointAuthMethod: "none", ApplicationType: "native",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answer (-want +got):\n%s", diff)
		}
		c, err := registry.GetClient(t.Context(), got.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Dynamic || c.Kind != clients.Public || c.AppType != clients.Native || c.SecretHash != "" || c.Name != "Claude Desktop" ||
			!slices.Equal(c.RedirectURIs, want.RedirectUris) || !slices.Equal(c.GrantTypes, want.GrantTypes) ||
			strings.Join(c.Scopes, " ") != want.Scope {
			t.Errorf("stored %+v", c)
		}
		if !c.RedirectAllowed("http://127.0.0.1:53117/callback") {
			t.Error("a native client's loopback redirect on another port is not allowed")
		}
	})

	t.Run("no post-logout redirect for a client anyone registered", func(t *testing.T) {
		// Else end_session would send anyone's browser wherever a stranger
		// registered: an open redirect.
		m := agent()
		m["post_logout_redirect_uris"] = []string{"https://evil.example/bye"}
		rec := a.status(a.registerClient(m, ""), 201, "registration asking a post-logout URI")
		got := decode[oapi.ClientRegistration](t, rec)
		if got.PostLogoutRedirectUris != nil {
			t.Errorf("registered post-logout URIs %v", *got.PostLogoutRedirectUris)
		}
		c, err := registry.GetClient(t.Context(), got.ClientID)
		if err != nil || len(c.PostLogoutRedirectURIs) != 0 || c.PostLogoutAllowed("https://evil.example/bye") {
			t.Errorf("stored %+v, %v", c.PostLogoutRedirectURIs, err)
		}
		end := a.do("GET", "/oauth2/end_session?client_id="+got.ClientID+"&post_logout_redirect_uri="+
			url.QueryEscape("https://evil.example/bye"), "")
		if loc := end.Header().Get("Location"); strings.Contains(loc, "evil.example") {
			t.Errorf("end_session redirects to %q", loc)
		}
	})

	t.Run("defaults: public, web, the code grant with refresh", func(t *testing.T) {
		rec := a.status(a.registerClient(map[string]any{"client_name": "Web agent", "redirect_uris": []string{"https://agent.example/cb"}}, ""), 201, "minimal")
		got := decode[oapi.ClientRegistration](t, rec)
		if got.TokenEndpointAuthMethod != "none" || got.ApplicationType != "web" || got.ClientSecret != nil ||
			!slices.Equal(got.GrantTypes, []string{"authorization_code", "refresh_token"}) || !slices.Equal(got.ResponseTypes, []string{"code"}) {
			t.Errorf("defaults %+v", got)
		}
	})

	t.Run("a confidential client", func(t *testing.T) {
		conf := map[string]any{"client_name": "Build bot", "redirect_uris": []string{"https://bot.example/cb"},
			"token_endpoint_auth_method": "client_secret_basic", "post_logout_redirect_uris": []string{"https://bot.example/bye"}}
		before := len(mustList(t, registry))
		for _, auth := range []string{"", "Basic " + testDCRToken} {
			rec := a.registerClient(conf, auth)
			if auth == "" {
				e := registrationError(t, a.status(rec, 400, "confidential without the initial access token"))
				if e.Error != "invalid_client_metadata" || !strings.Contains(e.ErrorDescription, "initial access token") {
					t.Errorf("refusal %+v", e)
				}
				continue
			}
			a.status(rec, 401, "the token under another scheme")
		}
		for _, wrong := range []string{"Bearer " + testDCRToken + "x", "Bearer " + testDCRToken[:20], "Bearer ", "Bearer"} {
			a.status(a.registerClient(agent(), wrong), 401, "a wrong initial access token, even for a public client: "+wrong)
		}
		if n := len(mustList(t, registry)); n != before {
			t.Fatalf("refusals stored %d clients", n-before)
		}

		rec := a.status(a.registerClient(conf, "Bearer "+testDCRToken), 201, "confidential with the initial access token")
		got := decode[oapi.ClientRegistration](t, rec)
		if got.ClientSecret == nil || len(*got.ClientSecret) != 43 || got.ClientSecretExpiresAt == nil || *got.ClientSecretExpiresAt != 0 ||
			got.TokenEndpointAuthMethod != "client_secret_basic" || got.PostLogoutRedirectUris != nil {
			t.Fatalf("answer %s", rec.Body)
		}
		c, err := registry.GetClient(t.Context(), got.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind != clients.Confidential || !c.Dynamic || c.SecretHash != clients.HashSecret(*got.ClientSecret) || !c.CheckSecret(*got.ClientSecret) {
			t.Errorf("stored %+v: want a dynamic confidential client whose hash is the secret's", c)
		}
		// Without a method, the initial access token's registration is
		// RFC 7591's default, client_secret_basic.
		delete(conf, "token_endpoint_auth_method")
		got = decode[oapi.ClientRegistration](t, a.status(a.registerClient(conf, "bearer "+testDCRToken), 201, "no method, with the token"))
		if got.TokenEndpointAuthMethod != "client_secret_basic" || got.ClientSecret == nil {
			t.Errorf("no method with the token: %+v", got)
		}
		for _, secret := range []*string{got.ClientSecret} {
			if strings.Contains(a.logs.String(), *secret) || strings.Contains(a.logs.String(), testDCRToken) {
				t.Error("the log holds a client secret or the initial access token")
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		with := func(change map[string]any) map[string]any {
			m := agent()
			for k, v := range change {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			return m
		}
		for _, tt := range []struct {
			name     string
			metadata map[string]any
			auth     string
			want     string
		}{
			{"client_credentials", with(map[string]any{"grant_types": []string{"client_credentials"}}), "", "invalid_client_metadata"},
			{"client_credentials, confidential with the token", with(map[string]any{"token_endpoint_auth_method": "client_secret_post",
				"grant_types": []string{"authorization_code", "client_credentials"}}), "Bearer " + testDCRToken, "invalid_client_metadata"},
			{"the admin scope", with(map[string]any{"scope": "openid admin"}), "", "invalid_client_metadata"},
			{"the admin scope, confidential with the token", with(map[string]any{"token_endpoint_auth_method": "client_secret_basic",
				"scope": "admin"}), "Bearer " + testDCRToken, "invalid_client_metadata"},
			{"an unknown scope", with(map[string]any{"scope": "openid write:all"}), "", "invalid_client_metadata"},
			{"the implicit grant", with(map[string]any{"grant_types": []string{"implicit"}}), "", "invalid_client_metadata"},
			{"response type token", with(map[string]any{"response_types": []string{"code", "token"}}), "", "invalid_client_metadata"},
			{"private_key_jwt", with(map[string]any{"token_endpoint_auth_method": "private_key_jwt"}), "", "invalid_client_metadata"},
			{"another application type", with(map[string]any{"application_type": "service"}), "", "invalid_client_metadata"},
			{"no name", with(map[string]any{"client_name": nil}), "", "invalid_client_metadata"},
			{"a name with a bidi override", with(map[string]any{"client_name": "Trusted\u202eApp"}), "", "invalid_client_metadata"},
			{"no redirect URI for the code grant", with(map[string]any{"redirect_uris": nil}), "", "invalid_client_metadata"},
			{"a fragment", with(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb#x"}}), "", "invalid_redirect_uri"},
			{"a web client's http URI", with(map[string]any{"application_type": "web", "redirect_uris": []string{"http://agent.example/cb"}}), "", "invalid_redirect_uri"},
			{"a web client's loopback http URI", with(map[string]any{"application_type": "web", "redirect_uris": []string{"http://127.0.0.1/cb"}}), "", "invalid_redirect_uri"},
			{"a native client's http URI off loopback", with(map[string]any{"redirect_uris": []string{"http://agent.example/cb"}}), "", "invalid_redirect_uri"},
			{"a native client's localhost", with(map[string]any{"redirect_uris": []string{"http://localhost:8000/cb"}}), "", "invalid_redirect_uri"},
			{"javascript:", with(map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}), "", "invalid_redirect_uri"},
			{"a relative URI", with(map[string]any{"redirect_uris": []string{"/cb"}}), "", "invalid_redirect_uri"},
		} {
			before := len(mustList(t, registry))
			e := registrationError(t, a.status(a.registerClient(tt.metadata, tt.auth), 400, tt.name))
			if string(e.Error) != tt.want || e.ErrorDescription == "" || strings.Contains(e.ErrorDescription, "\n") {
				t.Errorf("%s: %+v, want %s with a one-line description", tt.name, e, tt.want)
			}
			if n := len(mustList(t, registry)); n != before {
				t.Errorf("%s: stored a client", tt.name)
			}
		}
		// A body the spec refuses is its problem+json, not RFC 7591's.
		rec := a.status(a.do("POST", "/oauth2/register", `{"client_name":"x","redirect_uris":"https://a.example/cb"}`), 400, "redirect_uris not a list")
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("a body the spec refuses: Content-Type %q", ct)
		}
	})
}

func mustList(t *testing.T, s clients.Store) []clients.Client {
	t.Helper()
	l, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDynamicRegistrationRateLimit: registration is rate-limited per
// client address, in a bucket of its own: past AUTH_RATE_LIMIT a minute
// 429 with Retry-After, while another address and keel's own /register
// still go through.
func TestDynamicRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, func(c *Config) { dcrOn(c); c.AuthRateLimit = 2 }).testAPI
	post := func(ip, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = ip + ":1234"
		return a.serve(req)
	}
	b, _ := json.Marshal(agent())
	from := func(ip string) *httptest.ResponseRecorder { return post(ip, "/oauth2/register", string(b)) }
	a.status(from("192.0.2.7"), 201, "first")
	a.status(from("192.0.2.7"), 201, "second")
	rec := a.status(from("192.0.2.7"), 429, "third in the minute")
	if after, _ := strconv.Atoi(rec.Header().Get("Retry-After")); after < 1 || after > 30 {
		t.Errorf("Retry-After %q, want 1..30 s", rec.Header().Get("Retry-After"))
	}
	a.status(from("192.0.2.8"), 201, "another address")
	a.status(post("192.0.2.7", "/register", credentials("ada@example.com", "password123")), 201, "keel's /register from the same address")
}
