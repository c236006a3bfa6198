package server

import (
	"net"
	"strings"
	"testing"
)

// TestAccessLogClientIP: the request line names the client as the rate limit
// sees it: the peer, unless the peer is a trusted proxy.
func TestAccessLogClientIP(t *testing.T) {
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
