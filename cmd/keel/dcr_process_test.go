package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProcessDynamicRegistration: the keel binary with OP_DYNAMIC_REGISTRATION
// and OP_DCR_INITIAL_ACCESS_TOKEN set advertises registration_endpoint,
// registers a public client without a secret and, with the token, a
// confidential one with a secret; neither the token nor the secret reaches
// its output. Every answer is checked against the spec.
func TestProcessDynamicRegistration(t *testing.T) {
	t.Parallel()
	const initial = "process-dcr-initial-access-token-0123456789"
	p := startKeel(t, map[string]string{"OP_DYNAMIC_REGISTRATION": "true", "OP_DCR_INITIAL_ACCESS_TOKEN": initial})
	hc := checkedClient(t, 10*time.Second, nil)

	res, err := hc.Get(p.url("/.well-known/openid-configuration"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RegistrationEndpoint string `json:"registration_endpoint"`
	}
	err = json.NewDecoder(res.Body).Decode(&doc)
	res.Body.Close()
	if err != nil || !strings.HasSuffix(doc.RegistrationEndpoint, "/oauth2/register") {
		t.Fatalf("registration_endpoint %q, %v", doc.RegistrationEndpoint, err)
	}

	register := func(body, auth string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest("POST", p.url("/oauth2/register"), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, m
	}
	code, m := register(`{"client_name":"Agent","redirect_uris":["http://127.0.0.1/callback"],"application_type":"native"}`, "")
	if _, secret := m["client_secret"]; code != http.StatusCreated || secret || !strings.HasPrefix(m["client_id"].(string), "kc_") {
		t.Fatalf("public registration: %d %v", code, m)
	}
	code, m = register(`{"client_name":"Bot","redirect_uris":["https://bot.example/cb"]}`, initial)
	secret, _ := m["client_secret"].(string)
	if code != http.StatusCreated || len(secret) != 43 {
		t.Fatalf("confidential registration: %d %v", code, m)
	}
	if code, m = register(`{"client_name":"Bot","redirect_uris":["https://bot.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, ""); code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Errorf("confidential without the token: %d %v", code, m)
	}
	for _, out := range []string{p.stdout.String(), p.stderr.String()} {
		if strings.Contains(out, initial) || strings.Contains(out, secret) {
			t.Error("keel's output holds the initial access token or a client secret")
		}
	}
}
