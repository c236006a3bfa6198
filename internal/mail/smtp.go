package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends messages through one SMTP server (SMTP_URL), one connection per
// message: keel sends a few emails a minute, and a fresh connection makes an
// outage or a server restart cost one retry, not a broken pool.
type SMTP struct {
	client *gomail.Client
	from   string
	domain string // of from, for Message-IDs
	pass   string // kept only to scrub it from errors
	addr   string // host:port, for errors
}

// SMTPOption adjusts an SMTP sender; the defaults suit production.
type SMTPOption func(*smtpOptions)

type smtpOptions struct {
	tls     *tls.Config
	timeout time.Duration
}

// WithTLSConfig sets the TLS configuration (for STARTTLS and smtps), for
// example to trust a private CA. Its ServerName is set to the URL's host when
// empty.
func WithTLSConfig(c *tls.Config) SMTPOption { return func(o *smtpOptions) { o.tls = c } }

// WithTimeout bounds connecting and each SMTP command (default 15s), so a
// server that hangs fails the job, which River retries, instead of holding a
// worker forever.
func WithTimeout(d time.Duration) SMTPOption { return func(o *smtpOptions) { o.timeout = d } }

// NewSMTP returns a sender for rawURL: smtp://[user:password@]host[:587],
// which upgrades with STARTTLS whenever the server offers it, or
// smtps://[user:password@]host[:465], which speaks TLS from the first byte.
// User and password are percent-decoded. from is the From address. Errors
// never contain the password.
func NewSMTP(rawURL, from string, opts ...SMTPOption) (*SMTP, error) {
	o := smtpOptions{timeout: 15 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := ParseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("from address %q: %w", from, err)
	}
	host, port := u.Hostname(), defaultPort[u.Scheme]
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p) // ParseSMTPURL checked it
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tls != nil {
		tlsConf = o.tls.Clone()
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = host
	}
	copts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(o.timeout),
		gomail.WithTLSConfig(tlsConf),
		// STARTTLS when offered: plenty of relays inside a private network
		// (and every test sink) offer none. Credentials still never travel
		// in the clear: see the auth option below.
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
	}
	if u.Scheme == "smtps" {
		copts = append(copts, gomail.WithSSL())
	}
	s := &SMTP{from: addr.String(), domain: domainOf(addr.Address), addr: u.Host}
	if u.User != nil {
		pass, _ := u.User.Password()
		s.pass = pass
		copts = append(copts,
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass),
			// Auto-discovery picks the strongest mechanism the server offers
			// and refuses PLAIN and LOGIN unless the connection is encrypted.
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
	}
	s.client, err = gomail.NewClient(host, copts...)
	if err != nil {
		return nil, s.scrub(fmt.Errorf("SMTP client for %s: %w", u.Host, err))
	}
	return s, nil
}

var defaultPort = map[string]int{"smtp": 587, "smtps": 465}

// ParseSMTPURL checks an SMTP_URL: scheme smtp or smtps, a host, an optional
// numeric port, nothing else. Its errors never repeat the URL, which may hold
// a password.
func ParseSMTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("not a URL such as smtp://user:password@host:587 (percent-encode special characters in the password)")
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, errors.New("scheme must be smtp:// (STARTTLS when offered) or smtps:// (implicit TLS)")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, errors.New("names no host, as in smtp://user:password@host:587")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("port must be a number from 1 to 65535")
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("takes no path, query or fragment: smtp://user:password@host:port")
	}
	if u.User != nil && u.User.Username() == "" {
		return nil, errors.New("has a password but no user name")
	}
	return u, nil
}

// Send delivers m over one new connection. It returns nil once the server
// has accepted the message (250 after DATA): a failure after that, such as a
// dropped QUIT, must not make the job retry and send the email twice.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID(s.domain))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)

	conn, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.scrub(fmt.Errorf("SMTP %s: %w", s.addr, err))
	}
	if err := s.client.SendWithSMTPClient(conn, msg); err != nil {
		_ = s.client.CloseWithSMTPClient(conn)
		return s.scrub(fmt.Errorf("SMTP %s: %w", s.addr, err))
	}
	// Accepted: whatever QUIT says, the email is on its way.
	_ = s.client.CloseWithSMTPClient(conn)
	return nil
}

// scrub removes the password from err's text. Servers do not echo
// credentials, but a library or a proxy might; the error goes to logs and to
// River's job errors.
func (s *SMTP) scrub(err error) error {
	if err == nil || s.pass == "" || !strings.Contains(err.Error(), s.pass) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.pass, "(password)"))
}

func domainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i < len(address)-1 {
		return address[i+1:]
	}
	return "localhost"
}

// messageID names the domain of the From address rather than the host name,
// which in a container is a meaningless id.
func messageID(domain string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + "@" + domain
}
