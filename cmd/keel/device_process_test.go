package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProcessDeviceGrant: the binary wires the device grant's settings
// through: a client created with the grant by `keel clients create` gets
// codes whose verification_uri is OP_DEVICE_URL, whose interval is
// OP_DEVICE_INTERVAL and whose expires_in is OP_DEVICE_CODE_TTL, and its
// first poll is authorization_pending; discovery lists the endpoint.
func TestProcessDeviceGrant(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{
		"DATABASE_URL": filepath.Join(t.TempDir(), "keel.db"), "JWT_SECRET": testSecret, "KEYS_KEK": testKEK,
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"clients", "create", "--name", "TV", "--public",
		"--grant", "urn:ietf:params:oauth:grant-type:device_code"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("keel clients create: %v\n%s", err, out.String())
	}
	id := regexp.MustCompile(`(?m)^client_id: +(\S+)$`).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("keel clients create:\n%s", out.String())
	}
	env["OP_DEVICE_URL"] = "https://app.example.com/device"
	env["OP_DEVICE_INTERVAL"] = "7s"
	env["OP_DEVICE_CODE_TTL"] = "3m"
	p := startKeel(t, env)
	hc := checkedClient(t, 10*time.Second, nil)

	form := func(path string, v url.Values) (int, map[string]any) {
		t.Helper()
		res, err := hc.PostForm(p.url(path), v)
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
	code, m := form("/oauth2/device_authorization", url.Values{"client_id": {id[1]}, "scope": {"openid"}})
	if code != http.StatusOK || m["verification_uri"] != "https://app.example.com/device" || m["interval"] != 7.0 ||
		m["expires_in"] != 180.0 || !strings.HasPrefix(m["verification_uri_complete"].(string), "https://app.example.com/device?user_code=") {
		t.Fatalf("device authorization: %d %v", code, m)
	}
	if code, m := form("/oauth2/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {m["device_code"].(string)}, "client_id": {id[1]}}); code != http.StatusBadRequest || m["error"] != "authorization_pending" {
		t.Errorf("first poll: %d %v, want authorization_pending", code, m)
	}

	res, err := hc.Get(p.url("/.well-known/openid-configuration"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Device string   `json:"device_authorization_endpoint"`
		Grants []string `json:"grant_types_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || !strings.HasSuffix(doc.Device, "/oauth2/device_authorization") ||
		!strings.Contains(strings.Join(doc.Grants, " "), "device_code") {
		t.Errorf("discovery: %+v, %v", doc, err)
	}
}
