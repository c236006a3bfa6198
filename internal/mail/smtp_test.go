package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelhq/keel/internal/mail"
)

// sink is a real SMTP server (emersion/go-smtp) on a loopback port that
// keeps what it receives. It can offer STARTTLS, speak implicit TLS, require
// AUTH PLAIN with given credentials, refuse mail with 451, or go down and
// come back on the same address.
type sink struct {
	t        *testing.T
	addr     string
	mode     string // "plain", "starttls" or "smtps"
	user     string // AUTH required when set
	pass     string
	insecure bool // offer AUTH without TLS (to prove the client declines)
	tls      *tls.Config

	refuse atomic.Bool // answer MAIL FROM with 451

	mu       sync.Mutex
	srv      *smtp.Server
	got      []received
	authSeen []string // user names of AUTH attempts, right or wrong
}

type received struct {
	from, to, data string
	tls            bool
	user           string
}

func newSink(t *testing.T, mode string) *sink {
	t.Helper()
	s := &sink{t: t, mode: mode, addr: "127.0.0.1:0", tls: serverTLS(t)}
	return s
}

// start listens (on the same address as before, after a stop).
func (s *sink) start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old socket may take a moment to free its port
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.AllowInsecureAuth = s.insecure
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	switch s.mode {
	case "starttls":
		srv.TLSConfig = s.tls
	case "smtps":
		srv.TLSConfig = s.tls
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	s.t.Cleanup(func() { _ = srv.Close() })
}

func (s *sink) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.srv.Close()
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// url is the SMTP_URL that reaches the sink.
func (s *sink) url(userinfo *url.Userinfo) string {
	scheme := "smtp"
	if s.mode == "smtps" {
		scheme = "smtps"
	}
	return (&url.URL{Scheme: scheme, User: userinfo, Host: s.addr}).String()
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{sink: s, conn: c}, nil }

type session struct {
	sink     *sink
	conn     *smtp.Conn
	user     string
	from, to string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		ss.sink.mu.Lock()
		ss.sink.authSeen = append(ss.sink.authSeen, user)
		ss.sink.mu.Unlock()
		if user != ss.sink.user || pass != ss.sink.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.refuse.Load() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	if ss.sink.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error { ss.to = to; return nil }

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.sink.mu.Lock()
	ss.sink.got = append(ss.sink.got, received{from: ss.from, to: ss.to, data: string(b), tls: isTLS, user: ss.user})
	ss.sink.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", "" }
func (ss *session) Logout() error { return nil }

// serverTLS is a self-signed certificate for 127.0.0.1; clientTLS trusts it.
var (
	certOnce sync.Once
	certPair tls.Certificate
	certPool *x509.CertPool
)

func makeCert(t *testing.T) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "sink.test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		certPool = x509.NewCertPool()
		certPool.AddCert(cert)
		certPair = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
}

func serverTLS(t *testing.T) *tls.Config {
	makeCert(t)
	return &tls.Config{Certificates: []tls.Certificate{certPair}, MinVersion: tls.VersionTLS12}
}

func clientTLS(t *testing.T) mail.SMTPOption {
	makeCert(t)
	return mail.WithTLSConfig(&tls.Config{RootCAs: certPool, MinVersion: tls.VersionTLS12})
}

func newSender(t *testing.T, rawURL string) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(rawURL, "keel <noreply@keel.test>", clientTLS(t), mail.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var hello = mail.Message{To: "ada@example.com", Subject: "Verify your email", Text: "Open http://localhost:8080/verify?token=abc\n"}

// checkMessage asserts the one message the sink got is hello, with the
// headers every mail client and spam filter expects.
func checkMessage(t *testing.T, got []received, wantTLS bool, wantUser string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.from != "noreply@keel.test" || m.to != "ada@example.com" {
		t.Errorf("envelope %q → %q", m.from, m.to)
	}
	if m.tls != wantTLS {
		t.Errorf("TLS = %v, want %v", m.tls, wantTLS)
	}
	if m.user != wantUser {
		t.Errorf("authenticated as %q, want %q", m.user, wantUser)
	}
	header, body, _ := strings.Cut(m.data, "\r\n\r\n")
	for _, h := range []string{"Date: ", "Message-ID: <", "@keel.test>", `From: "keel" <noreply@keel.test>`,
		"To: <ada@example.com>", "Subject: Verify your email", "Content-Type: text/plain"} {
		if !strings.Contains(header, h) {
			t.Errorf("header lacks %q:\n%s", h, header)
		}
	}
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	// SMTP ends lines with CRLF.
	if err != nil || strings.ReplaceAll(string(text), "\r\n", "\n") != hello.Text {
		t.Errorf("body decodes to %q (%v), want %q", text, err, hello.Text)
	}
}

func TestSMTPDelivery(t *testing.T) {
	ctx := context.Background()
	t.Run("plain", func(t *testing.T) {
		s := newSink(t, "plain")
		s.start()
		if err := newSender(t, s.url(nil)).Send(ctx, hello); err != nil {
			t.Fatal(err)
		}
		checkMessage(t, s.messages(), false, "")
	})
	t.Run("STARTTLS offered is used", func(t *testing.T) {
		s := newSink(t, "starttls")
		s.start()
		if err := newSender(t, s.url(nil)).Send(ctx, hello); err != nil {
			t.Fatal(err)
		}
		checkMessage(t, s.messages(), true, "")
	})
	t.Run("smtps is implicit TLS", func(t *testing.T) {
		s := newSink(t, "smtps")
		s.start()
		if err := newSender(t, s.url(nil)).Send(ctx, hello); err != nil {
			t.Fatal(err)
		}
		checkMessage(t, s.messages(), true, "")
	})
	t.Run("untrusted certificate fails", func(t *testing.T) {
		s := newSink(t, "smtps")
		s.start()
		sender, err := mail.NewSMTP(s.url(nil), "noreply@keel.test", mail.WithTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(ctx, hello); err == nil {
			t.Fatal("sent to a server whose certificate nobody signed")
		}
	})
}

func TestSMTPAuth(t *testing.T) {
	ctx := context.Background()
	const pass = "s3cret p@ss:/%"
	for _, mode := range []string{"starttls", "smtps"} {
		t.Run(mode+" with the URL's credentials", func(t *testing.T) {
			s := newSink(t, mode)
			s.user, s.pass = "mailer@keel.test", pass
			s.start()
			// url.UserPassword percent-encodes; NewSMTP must decode.
			if err := newSender(t, s.url(url.UserPassword(s.user, pass))).Send(ctx, hello); err != nil {
				t.Fatal(err)
			}
			checkMessage(t, s.messages(), true, "mailer@keel.test")
		})
	}
	t.Run("wrong password fails without showing it", func(t *testing.T) {
		s := newSink(t, "starttls")
		s.user, s.pass = "mailer@keel.test", pass
		s.start()
		const wrong = "hunter2-wrong"
		err := newSender(t, s.url(url.UserPassword(s.user, wrong))).Send(ctx, hello)
		if err == nil {
			t.Fatal("sent with a wrong password")
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}
		if len(s.messages()) != 0 {
			t.Error("the sink accepted a message")
		}
	})
	t.Run("no PLAIN without TLS", func(t *testing.T) {
		s := newSink(t, "plain")
		s.user, s.pass, s.insecure = "mailer@keel.test", pass, true
		s.start()
		err := newSender(t, s.url(url.UserPassword(s.user, pass))).Send(ctx, hello)
		if err == nil {
			t.Fatal("authenticated over a plain-text connection")
		}
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.authSeen) != 0 {
			t.Errorf("credentials sent in the clear for %v", s.authSeen)
		}
	})
}

// TestSMTPOutage: while the server refuses (451) or is down, Send fails
// (so the job is retried) and counts a failure; once it is back, a retry
// delivers and counts one email sent.
func TestSMTPOutage(t *testing.T) {
	ctx := context.Background()
	s := newSink(t, "starttls")
	s.start()
	reg := prometheus.NewRegistry()
	sender, err := mail.NewMetered(newSender(t, s.url(nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if sent, failed := counters(t, reg); sent != 0 || failed != 0 {
		t.Fatalf("at start: sent %v, failed %v; want both series at 0", sent, failed)
	}

	s.refuse.Store(true)
	err = sender.Send(ctx, hello)
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("refused: Send = %v, want a 451 error", err)
	}

	s.refuse.Store(false)
	s.stop()
	if err := sender.Send(ctx, hello); err == nil {
		t.Fatal("down: Send succeeded")
	}

	s.start()
	if err := sender.Send(ctx, hello); err != nil {
		t.Fatalf("back up: %v", err)
	}
	checkMessage(t, s.messages(), true, "")
	if sent, failed := counters(t, reg); sent != 1 || failed != 2 {
		t.Errorf("sent %v, failed %v; want 1 and 2", sent, failed)
	}
}

func counters(t *testing.T, reg *prometheus.Registry) (sent, failed float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range families {
		switch f.GetName() {
		case "keel_emails_sent_total":
			sent, found = f.GetMetric()[0].GetCounter().GetValue(), found+1
		case "keel_email_failures_total":
			failed, found = f.GetMetric()[0].GetCounter().GetValue(), found+1
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the 2 email counters", found)
	}
	return sent, failed
}

func TestNewSMTPRejects(t *testing.T) {
	for _, raw := range []string{
		"", "localhost:25", "http://host", "smtp://", "smtp://user:pw@:25", "smtp://host:0", "smtp://host:99999",
		"smtp://host/path", "smtp://host?x=1", "smtp://:secretpw@host", "smtp://u:bad%zzsecretpw@host",
	} {
		_, err := mail.NewSMTP(raw, "noreply@keel.test")
		if err == nil {
			t.Errorf("NewSMTP(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("NewSMTP(%q) error shows the password: %v", raw, err)
		}
	}
	if _, err := mail.NewSMTP("smtp://host", "not an address"); err == nil {
		t.Error("accepted a From that is no address")
	}
}
