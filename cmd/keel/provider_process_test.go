package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestProviderLogsToKeelsLog: zitadel/oidc's pkg/op logs through the
// default logger; keel makes that its own JSON log, so a refused token
// request leaves a JSON line on stdout and nothing on stderr.
func TestProviderLogsToKeelsLog(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	p := startKeel(t, map[string]string{"API_URL": "http://127.0.0.1:1"})
	res, err := http.PostForm(p.url("/oauth2/token"), url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {"not-a-token"}, "client_id": {"kc_nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token endpoint: %d", res.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stdout.String(), `"msg":"request error"`) {
		if time.Now().After(deadline) {
			t.Fatalf("pkg/op's log line is not in keel's log:\n%s", p.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := p.stderr.String(); s != "" {
		t.Errorf("stderr:\n%s", s)
	}
}
