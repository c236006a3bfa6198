package webhooks

import (
	"errors"
	"net/netip"
	"testing"
)

// TestControlRefusesNonPublic: the dialer's Control hook, given the
// resolved address it is about to connect to, refuses every address that
// is not public, in any of its spellings (IPv4-mapped, IPv4-compatible,
// NAT64, 6to4), and lets public ones through.
func TestControlRefusesNonPublic(t *testing.T) {
	tests := []struct {
		addr   string
		refuse bool
	}{
		{"127.0.0.1:443", true},
		{"127.8.9.10:80", true},
		{"[::1]:443", true},
		{"[::ffff:127.0.0.1]:443", true},
		{"[::127.0.0.1]:443", true},
		{"0.0.0.0:80", true},
		{"0.1.2.3:80", true},
		{"[::]:80", true},
		{"10.0.0.1:443", true},
		{"172.16.5.4:443", true},
		{"172.31.255.255:443", true},
		{"192.168.1.1:443", true},
		{"[::ffff:192.168.1.1]:443", true},
		{"[::ffff:10.1.1.1]:443", true},
		{"100.64.0.1:443", true},
		{"100.127.255.254:443", true},
		{"169.254.169.254:80", true}, // cloud metadata
		{"[fe80::1%25eth0]:443", true},
		{"[fe80::1]:443", true},
		{"[fc00::1]:443", true},
		{"[fd12:3456::1]:443", true},
		{"224.0.0.1:443", true},
		{"[ff02::1]:443", true},
		{"255.255.255.255:443", true},
		{"[64:ff9b::7f00:1]:443", true}, // NAT64 of 127.0.0.1
		{"[2002:7f00:1::]:443", true},   // 6to4 of 127.0.0.1
		{"192.0.0.8:443", true},
		{"not an address", true},
		{"93.184.215.14:443", false},
		{"8.8.8.8:53", false},
		{"100.128.0.1:443", false}, // just past CGNAT
		{"172.32.0.1:443", false},  // just past 172.16/12
		{"[2606:4700::1111]:443", false},
		{"[::ffff:8.8.8.8]:443", false},
	}
	for _, tt := range tests {
		err := control("tcp", tt.addr, nil)
		if got := err != nil; got != tt.refuse {
			t.Errorf("control(%s) = %v, want refused %v", tt.addr, err, tt.refuse)
		}
		if err != nil && !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("control(%s) = %v, want ErrRefusedAddress", tt.addr, err)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("the zero address is public")
	}
}

// TestCheckURL: registration refuses what no delivery could be sent to,
// and plain http and non-public literal addresses unless allowPrivate.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		url             string
		ok, okIfPrivate bool
	}{
		{"https://app.example/hooks", true, true},
		{"https://app.example:8443/hooks?x=1", true, true},
		{"https://93.184.215.14/hooks", true, true},
		{"http://app.example/hooks", false, true},
		{"https://127.0.0.1/hooks", false, true},
		{"https://[::1]/hooks", false, true},
		{"https://[::ffff:10.0.0.1]/", false, true},
		{"https://localhost/hooks", false, true},
		{"https://a.localhost./hooks", false, true},
		{"https://169.254.169.254/latest/meta-data", false, true},
		{"ftp://app.example/", false, false},
		{"app.example/hooks", false, false},
		{"https:///hooks", false, false},
		{"https://user:pw@app.example/", false, false},
		{"https://app.example/#frag", false, false},
		{"mailto:a@example.com", false, false},
		{"https://app.example:65535/hooks", true, true},
		{"https://app.example:65536/hooks", false, false},
		{"https://app.example:0/hooks", false, false},
		{"https://app.example:99999999999999999999/hooks", false, false},
		// Other spellings of 127.0.0.1: Go resolves none of them (browsers
		// and curl read them as addresses), nor the fullwidth one to
		// itself; refused at registration, whatever WEBHOOKS_ALLOW_PRIVATE.
		{"https://127.1/", false, false},
		{"https://2130706433/", false, false},
		{"https://0x7f.1/", false, false},
		{"https://0x7f000001/", false, false},
		{"https://0177.0.0.1/", false, false},
		{"https://127.000.000.001/", false, false},
		{"https://0/", false, false},
		{"https://127.0.0.1./", false, false},
		{"https://\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11/", false, false},
		{"https://b\u00fccher.example/", false, false},
		{"https://app.example/\xff", false, false},
		// Names that look numeric but are not addresses stay names.
		{"https://0x.example/", true, true},
		{"https://1.example/", true, true},
		{"https://cafe.babe/", true, true},
		// Special-use IPv6 nets: SIIT's IPv4-translated form of
		// 127.0.0.1, documentation (RFC 9637), benchmarking, SRv6.
		{"https://[::ffff:0:7f00:1]/", false, true},
		{"https://[3fff::1]/", false, true},
		{"https://[2001:2::1]/", false, true},
		{"https://[5f00::1]/", false, true},
	}
	for _, tt := range tests {
		if _, err := CheckURL(tt.url, false); (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
		if _, err := CheckURL(tt.url, true); (err == nil) != tt.okIfPrivate {
			t.Errorf("CheckURL(%q, allowPrivate) = %v, want ok %v", tt.url, err, tt.okIfPrivate)
		}
	}
}
