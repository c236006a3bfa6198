package webhooks

// The SSRF rule: keel sends webhooks to public addresses only, unless
// WEBHOOKS_ALLOW_PRIVATE. The check runs in the dialer's Control hook, on
// the address actually being connected to, after DNS resolution: a name
// that resolves to a public address at registration and to 127.0.0.1 at
// delivery (DNS rebinding) is refused at the connection, not before it.
// Redirects are not followed (a 3xx is a failed delivery), and no proxy
// from the environment is used, so the address checked is the one reached.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// ErrRefusedAddress is an address the SSRF rule refuses.
var ErrRefusedAddress = errors.New("webhooks: the address is not public (loopback, private, link-local, CGNAT, unique-local or reserved); WEBHOOKS_ALLOW_PRIVATE allows it")

// refused are the prefixes no delivery connects to: "this network", private
// (RFC 1918), CGNAT (RFC 6598), loopback, link-local, the IETF protocol
// block, the documentation and benchmarking nets, multicast and the
// reserved block; IPv6 unspecified, loopback, unique-local, link-local,
// multicast, documentation (2001:db8::/32, 3fff::/20), the IETF protocol
// block 2001::/23 (Teredo, benchmarking among it), SRv6 segment ids
// (5f00::/16), and the translation forms of IPv4 (NAT64, 6to4, Teredo,
// SIIT's ::ffff:0:0:0/96) whose embedded address could be any of the above.
var refused = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/23", "100::/64",
		"::ffff:0:0:0/96", "3fff::/20", "5f00::/16",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// Public reports whether a delivery may connect to addr. An IPv4-mapped
// IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it maps,
// and an IPv4-compatible one (::127.0.0.1, deprecated) is refused outright.
func Public(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if !addr.IsValid() {
		return false
	}
	if addr.Is6() && netip.MustParsePrefix("::/96").Contains(addr) {
		return false
	}
	for _, p := range refused {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// asciiHost reports whether host is ASCII: HTTP clients map other forms
// (fullwidth digits and dots among them) to another host name before they
// resolve it, so the name checked would not be the name dialled.
func asciiHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// numericName reports whether host, not an IP address as netip reads one,
// ends in a label of digits or 0x: no domain's top label is numeric, so it
// is an IPv4 address in a form other than a.b.c.d (127.1, 2130706433,
// 0x7f.1, 0177.0.0.1, 127.0.0.1.) that browsers read as an address and Go
// cannot resolve: such an endpoint could never be delivered to.
func numericName(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	last := strings.TrimSuffix(host, ".")
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	if h, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		for _, c := range h {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	if last == "" {
		return false
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// control is the dialer's Control hook: it refuses a connection to an
// address that is not Public. address is "ip:port", already resolved.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
	}
	return nil
}

// NewClient is the HTTP client deliveries go through: each attempt bounded
// by timeout, no redirects followed, no environment proxy, and (unless
// allowPrivate) connections only to Public addresses.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = control
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// validPort: none (the scheme's), or a TCP port; url.Parse takes any
// digits, and a delivery to port 70000 could only fail.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// ErrURL is an endpoint URL refused at registration.
var ErrURL = errors.New("webhooks: bad endpoint URL")

// CheckURL refuses, at registration, an endpoint URL that no delivery
// could be sent to: not absolute http(s), with credentials or a fragment,
// longer than 2048 bytes; plain http unless allowPrivate (a delivery
// carries account data); and a literal IP address that is not Public
// unless allowPrivate. A host name is checked only when connected to
// (control), so DNS at registration proves nothing either way.
func CheckURL(raw string, allowPrivate bool) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, fmt.Errorf("%w: longer than 2048 bytes", ErrURL)
	}
	if !utf8.ValidString(raw) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrURL)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w: the scheme must be https", ErrURL)
	case u.Scheme == "http" && !allowPrivate:
		return nil, fmt.Errorf("%w: the scheme must be https (http only with WEBHOOKS_ALLOW_PRIVATE)", ErrURL)
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return nil, fmt.Errorf("%w: no host", ErrURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: credentials in the URL", ErrURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("%w: a fragment", ErrURL)
	case !validPort(u.Port()):
		return nil, fmt.Errorf("%w: the port must be 1 to 65535", ErrURL)
	case !asciiHost(u.Hostname()):
		return nil, fmt.Errorf("%w: write an internationalized host name in its ASCII form (xn--…)", ErrURL)
	case numericName(u.Hostname()):
		return nil, fmt.Errorf("%w: an IPv4 address must be written as four decimal numbers (a.b.c.d)", ErrURL)
	}
	if allowPrivate {
		return u, nil
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if !Public(addr) {
			return nil, fmt.Errorf("%w: %s", ErrURL, strings.TrimPrefix(ErrRefusedAddress.Error(), "webhooks: "))
		}
	} else if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil, fmt.Errorf("%w: %s", ErrURL, strings.TrimPrefix(ErrRefusedAddress.Error(), "webhooks: "))
	}
	return u, nil
}
