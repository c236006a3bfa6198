package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/keelhq/keel/internal/pgtest"
)

// smtpSink is a real SMTP server (emersion/go-smtp, plain, no AUTH) on a
// loopback port that keeps what it accepts. While refuse is set it answers
// MAIL FROM with 451 after delay, so an SMTP attempt takes at least delay.
type smtpSink struct {
	addr   string
	delay  time.Duration
	refuse atomic.Bool

	mu           sync.Mutex
	got          []sinkMessage
	refusals     int
	firstRefusal time.Time // when the first 451 was sent
}

type sinkMessage struct {
	from, to, data string
	at             time.Time
}

func startSMTPSink(t *testing.T, delay time.Duration) *smtpSink {
	t.Helper()
	s := &smtpSink{delay: delay}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

func (s *smtpSink) messages() []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMessage(nil), s.got...)
}

func (s *smtpSink) refused() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals, s.firstRefusal
}

type sinkSession struct {
	sink     *smtpSink
	from, to string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.refuse.Load() {
		time.Sleep(ss.sink.delay)
		ss.sink.mu.Lock()
		if ss.sink.refusals == 0 {
			ss.sink.firstRefusal = time.Now()
		}
		ss.sink.refusals++
		ss.sink.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { ss.to = to; return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.got = append(ss.sink.got, sinkMessage{from: ss.from, to: ss.to, data: string(b), at: time.Now()})
	ss.sink.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", "" }
func (ss *sinkSession) Logout() error { return nil }

// metric is the value of the /metrics sample whose line starts with sample
// and a space (-1 when keel does not answer or lacks it).
func metric(ctx context.Context, hc *http.Client, p *proc, sample string) float64 {
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url("/metrics"), nil)
	res, err := hc.Do(req)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// TestProcessEmailSurvivesOutageAndRestart: the real binary with SMTP_URL
// pointing at a server that refuses every message (451 to MAIL FROM, after
// 2 s). POST /register answers 201 before the server has answered the job's
// first attempt; the verification job fails (counted on /metrics); keel is
// stopped with SIGTERM (exit 0). The server then accepts, keel restarts on
// the same database, and the verification email arrives exactly once, to
// the registered address, with a PUBLIC_URL link whose token verifies the
// address (204, then email_verified in /profile); no second copy follows.
// Both engines, at once.
func TestProcessEmailSurvivesOutageAndRestart(t *testing.T) {
	t.Parallel()
	keelBinary(t) // skip under -short before starting a database
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testEmailSurvivesOutage(t, engine == "postgres")
		})
	}
}

func testEmailSurvivesOutage(t *testing.T, postgres bool) {
	const (
		refuseDelay = 2 * time.Second
		publicURL   = "https://keel.test:8443/app"
		email       = "ada@example.com"
		password    = "password123"
	)
	db := filepath.Join(t.TempDir(), "keel.db")
	if postgres {
		db = pgtest.NewDatabase(t)
	}
	sink := startSMTPSink(t, refuseDelay)
	sink.refuse.Store(true)
	env := map[string]string{
		"DATABASE_URL": db,
		"SMTP_URL":     "smtp://" + sink.addr,
		"PUBLIC_URL":   publicURL,
		"MAIL_FROM":    "keel <noreply@keel.test>",
		"JOB_INTERVAL": "50ms",
		"BCRYPT_COST":  "4",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hc := checkedClient(t, 10*time.Second, nil)
	const failures = `keel_job_failures_total{job="verify-email"}`

	// 1. SMTP refuses: registration still answers at once.
	p := startKeel(t, env)
	start := time.Now()
	code, body, err := post(ctx, hc, p.url("/register"), creds(email, password))
	took := time.Since(start)
	answered := time.Now()
	if err != nil || code != http.StatusCreated {
		t.Fatalf("register while SMTP refuses: %d %v %s", code, err, body)
	}
	if took >= refuseDelay { // waiting on SMTP would take at least its refusal's delay
		t.Errorf("register took %v with SMTP refusing after %v; it must not wait on SMTP", took, refuseDelay)
	}

	// 2. The job fails at least once; then SIGTERM.
	for metric(ctx, hc, p, failures) < 1 || metric(ctx, hc, p, "keel_email_failures_total") < 1 {
		if ctx.Err() != nil {
			t.Fatalf("the verification job never failed\nstdout:\n%.4000s", p.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	refusals, first := sink.refused()
	if first.Before(answered) {
		t.Errorf("the 201 came %v after the SMTP server refused the job: the request waited on SMTP", answered.Sub(first))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}
	if got := sink.messages(); len(got) != 0 {
		t.Fatalf("the refusing sink holds %d messages", len(got))
	}
	t.Logf("register answered in %v, %v before the first 451; %d attempt(s) refused before SIGTERM", took, first.Sub(answered).Round(time.Millisecond), refusals)

	// 3. SMTP accepts; keel restarts on the same database: the email arrives once.
	sink.refuse.Store(false)
	restart := time.Now()
	p = startKeel(t, env)
	var msgs []sinkMessage
	for msgs = sink.messages(); len(msgs) == 0; msgs = sink.messages() {
		if ctx.Err() != nil {
			t.Fatalf("no email within %v of the restart\nstdout:\n%.4000s", time.Since(restart), p.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	delivered := time.Since(restart)
	time.Sleep(5 * time.Second) // a second copy would come in this time
	if msgs = sink.messages(); len(msgs) != 1 {
		t.Fatalf("%d emails delivered, want exactly 1", len(msgs))
	}
	if n := metric(ctx, hc, p, "keel_emails_sent_total"); n != 1 {
		t.Errorf("keel_emails_sent_total = %v after the restart, want 1", n)
	}
	if n := metric(ctx, hc, p, `keel_river_jobs{state="completed"}`); n < 1 {
		t.Errorf(`keel_river_jobs{state="completed"} = %v, want the verification job completed`, n)
	}
	m := msgs[0]
	if m.from != "noreply@keel.test" || m.to != email {
		t.Errorf("envelope %q → %q, want noreply@keel.test → %s", m.from, m.to, email)
	}
	parsed, err := netmail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatalf("the email does not parse: %v\n%s", err, m.data)
	}
	if to := parsed.Header.Get("To"); !strings.Contains(to, email) {
		t.Errorf("To: %q", to)
	}
	var text []byte
	if strings.EqualFold(parsed.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		text, err = io.ReadAll(quotedprintable.NewReader(parsed.Body))
	} else {
		text, err = io.ReadAll(parsed.Body)
	}
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/verify-email\?token=([A-Za-z0-9_-]+)`).FindSubmatch(text)
	if link == nil {
		t.Fatalf("no %s/verify-email?token=… link in the email:\n%s", publicURL, text)
	}
	token := string(link[1])

	// 4. The token verifies the address (with the account's password).
	tb, _ := json.Marshal(map[string]string{"token": token, "password": password})
	if code, body, err := post(ctx, hc, p.url("/email/verify"), string(tb)); err != nil || code != http.StatusNoContent {
		t.Fatalf("verify with the emailed token: %d %v %s", code, err, body)
	}
	code, body, err = post(ctx, hc, p.url("/login"), creds(email, password))
	if err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v %s", code, err, body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); err != nil {
		t.Fatal(err)
	}
	code, body, err = getProfile(ctx, hc, p, login.Token)
	if err != nil || code != http.StatusOK {
		t.Fatalf("profile: %d %v %s", code, err, body)
	}
	var profile struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := json.Unmarshal(body, &profile); err != nil {
		t.Fatal(err)
	}
	if profile.Email != email || !profile.EmailVerified {
		t.Errorf("profile after verification: %s", body)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}
	if n := len(sink.messages()); n != 1 {
		t.Errorf("%d emails delivered by the end, want exactly 1", n)
	}
	t.Logf("delivered %v after the restart; one copy in the following 5 s", delivered.Round(time.Millisecond))
}
