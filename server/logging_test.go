package server

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// TestAccessLogClientIP: the request line names the client as the rate limit
// sees it: the peer, unless the peer is a trusted proxy.
func TestAccessLogClientIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted string
		want    string
	}{
		{"no proxy trusted", "", "192.0.2.1"},
		{"the peer is a trusted proxy", "192.0.2.0/24", "198.51.100.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, func(c *Config) {
				if tt.trusted != "" {
					_, n, _ := net.ParseCIDR(tt.trusted)
					c.TrustedProxies = []*net.IPNet{n}
				}
			})
			a.do("GET", "/", "", "X-Forwarded-For", "198.51.100.7") // httptest's peer is 192.0.2.1
			if logs := a.logs.String(); !strings.Contains(logs, `"client_ip":"`+tt.want+`"`) {
				t.Errorf("want client_ip %s in:\n%s", tt.want, logs)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	if got := a.do("GET", "/", "", "X-Request-Id", "abc-123").Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("client id not kept: %q", got)
	}
	for _, bad := range []string{"a b", "x\"}{", strings.Repeat("a", 129)} {
		got := a.do("GET", "/", "", "X-Request-Id", bad).Header().Get("X-Request-Id")
		if got == bad || got == "" {
			t.Errorf("id %q kept or missing: %q", bad, got)
		}
	}
	p := problemOf(t, a.do("GET", "/nope", "", "X-Request-Id", "find-me"))
	if p.Instance == nil || *p.Instance != "find-me" {
		t.Errorf("problem instance %v, want the request id", p.Instance)
	}
}

// TestLogs: one line per request with its fields, and never a password, hash
// or token.
func TestLogs(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "secret-password-1")
	token := a.mustLogin("ada@example.com", "secret-password-1")
	a.do("GET", "/profile", "", "Authorization", "Bearer "+token)
	a.do("POST", "/login", credentials("ada@example.com", "wrong-password-2"))

	logs := a.logs.String()
	for _, secret := range []string{"secret-password-1", "wrong-password-2", "$2a$", token} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		if m["msg"] != "request" {
			continue
		}
		n++
		for _, k := range []string{"time", "level", "method", "route", "status", "latency_ms", "request_id", "client_ip"} {
			if _, ok := m[k]; !ok {
				t.Errorf("request line lacks %s: %s", k, l)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d request lines, want 4:\n%s", n, logs)
	}
}
