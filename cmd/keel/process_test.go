package main

// Process-level tests: keel's main in a child process (this test binary, see
// keelBinary) on loopback, killed, restarted, stopped with SIGTERM, and
// pointed at bad databases. Skipped under -short.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/internal/pgtest"
)

// mainEnv, set in a process's environment, makes this test binary run keel's
// main instead of the tests (see TestMain and keelBinary).
const mainEnv = "KEEL_PROCESS_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	// These tests mostly wait on child processes (keel replicas, PostgreSQL,
	// an SMTP sink) whose work is not this process's: run more of them at
	// once than -parallel's default of one per CPU, unless told otherwise.
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && f.Value.String() == f.DefValue {
		flag.Set("test.parallel", fmt.Sprint(max(4, 2*runtime.GOMAXPROCS(0))))
	}
	os.Exit(pgtest.Main(m)) // stops the throwaway PostgreSQL the cluster test started
}

// keelBinary returns the program the process tests run: this very test
// binary, which is keel when mainEnv is set. It is built with the tests' own
// flags (the race detector among them), so the child processes are checked
// for races too, and keel is not compiled a second time for them.
func keelBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests run the keel binary; skipped with -short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// proc is a running keel binary.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	addr           string
	stdout, stderr *syncBuffer
	exited         chan struct{} // closed when the process has exited
	waitErr        error         // set before exited is closed
}

// testKEK is KEYS_KEK for every process and cluster test, so replicas and
// restarts open the same signing keys.
const testKEK = "test-keys-kek-0123456789abcdef0123456789"

// testSecret is JWT_SECRET for every process test, so tokens and restarts agree.
const testSecret = "process-test-secret-0123456789abcdef"

// startKeel runs the binary with a minimal environment (nothing inherited but
// PATH) plus env, in an empty working folder (so no .env is read), and waits
// for its "listening" log line. The bound is generous: under the race
// detector, with every test binary of make test running beside it on two
// cores, a start has taken over 15 s; how fast keel starts is measured by
// the load harness (BENCH.md), not here.
func startKeel(t *testing.T, env map[string]string) *proc {
	t.Helper()
	p := launch(t, env)
	if err := waitListening(p, startTimeout); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTimeout bounds a process test's wait for keel to listen.
const startTimeout = time.Minute

// launch starts the binary without waiting for it to listen.
func launch(t *testing.T, env map[string]string) *proc {
	t.Helper()
	bin := keelBinary(t)
	vars := map[string]string{
		"PATH":            os.Getenv("PATH"),
		"HOME":            t.TempDir(),
		"ADDR":            "127.0.0.1:0",
		"DATABASE_URL":    filepath.Join(t.TempDir(), "keel.db"),
		"JWT_SECRET":      testSecret,
		"KEYS_KEK":        testKEK,
		"BCRYPT_COST":     "4",
		"AUTH_RATE_LIMIT": "0",
		"HASH_QUEUE":      "1024",
		"JOB_INTERVAL":    "50ms",
		mainEnv:           "1",
	}
	for k, v := range env {
		vars[k] = v
	}
	p := &proc{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Dir = t.TempDir()
	for k, v := range vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code
// (-1 when a signal killed it).
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("keel did not exit within %v\nstdout:\n%.4000s\nstderr:\n%s", d, p.stdout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// post sends a JSON body and returns the status and body.
func post(ctx context.Context, hc *http.Client, url, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(res.Body)
	return res.StatusCode, b.Bytes(), err
}

func creds(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// TestProcessDurability: while clients register users, keel is killed with
// SIGKILL at a random moment, three times over; after each restart on the
// same database every registration that got a 201 still logs in, and at the
// end SQLite's integrity check passes (on PostgreSQL, every acknowledged email
// is a row). A 201 is a promise the data is on disk. Both engines, at once.
func TestProcessDurability(t *testing.T) {
	t.Parallel()
	keelBinary(t) // skip under -short before starting a database
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testDurability(t, engine == "postgres")
		})
	}
}

func testDurability(t *testing.T, postgres bool) {
	db := filepath.Join(t.TempDir(), "data", "keel.db")
	if postgres {
		db = pgtest.NewDatabase(t)
	}
	env := map[string]string{"DATABASE_URL": db}
	hc := checkedClient(t, 5*time.Second, nil)
	var (
		mu         sync.Mutex
		registered []string // emails that got a 201
	)
	for round := range 3 {
		mu.Lock()
		before := len(registered)
		mu.Unlock()
		p := startKeel(t, env)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					email := fmt.Sprintf("r%d-w%d-%d@example.com", round, w, i)
					code, body, err := post(ctx, hc, p.url("/register"), creds(email, "password123"))
					if err != nil {
						return // killed: this one's outcome is unknown
					}
					if code != http.StatusCreated {
						t.Errorf("register %s: %d %s", email, code, body)
						return
					}
					mu.Lock()
					registered = append(registered, email)
					mu.Unlock()
				}
			})
		}
		// Killed at a random moment once registrations are being
		// acknowledged (how soon that is depends on the machine's load).
		for acked := false; !acked && ctx.Err() == nil; {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			acked = len(registered) > before
			mu.Unlock()
		}
		time.Sleep(time.Duration(100+mrand.IntN(300)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(5 * time.Second)
		wg.Wait()
		cancel()
		mu.Lock()
		n := len(registered)
		mu.Unlock()
		t.Logf("round %d: %d registrations acknowledged so far", round, n)
	}
	if len(registered) == 0 {
		t.Fatal("no registration succeeded before the kills; the test proved nothing")
	}

	// Restart on the same database: every acknowledged user logs in.
	p := startKeel(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	emails := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for email := range emails {
				code, body, err := post(ctx, hc, p.url("/login"), creds(email, "password123"))
				if err != nil || code != http.StatusOK {
					t.Errorf("after SIGKILL and restart, %s (acknowledged with 201) cannot log in: %d %v %s", email, code, err, body)
				}
			}
		})
	}
	for _, e := range registered {
		emails <- e
	}
	close(emails)
	wg.Wait()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\nstderr:\n%s", code, p.stderr)
	}

	if postgres {
		checkRowsPostgres(ctx, t, db, registered)
		return
	}
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q %v", check, err)
	}
	var users int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&users); err != nil || users < len(registered) {
		t.Errorf("%d users in the database, %d acknowledged (%v)", users, len(registered), err)
	}
	t.Logf("%d acknowledged registrations, %d rows (the rest were in flight at a kill)", len(registered), users)
}

// checkRowsPostgres checks, through pgx, that every acknowledged email is a
// row in the PostgreSQL database at url: PostgreSQL checks its own pages, so
// there is no integrity_check to run, but a lost commit would show here.
func checkRowsPostgres(ctx context.Context, t *testing.T, url string, registered []string) {
	t.Helper()
	conn, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT email FROM users")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var email string
		if err := rows.Scan(&email); err != nil {
			t.Fatal(err)
		}
		stored[email] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range registered {
		if !stored[e] {
			t.Errorf("%s was acknowledged with 201 but is not in the database", e)
		}
	}
	t.Logf("%d acknowledged registrations, %d rows (the rest were in flight at a kill)", len(registered), len(stored))
}

// TestProcessGracefulShutdown: SIGTERM while slow logins are in flight and
// two WebSockets are open. Every in-flight login completes with 200, each
// WebSocket is closed with 1001 (going away), and keel exits 0 within
// SHUTDOWN_TIMEOUT. Serial: it calibrates bcrypt's cost to this machine's
// speed, which other tests running beside it would skew.
func TestProcessGracefulShutdown(t *testing.T) {
	cost := slowBcryptCost(t)
	// A deadline far above the logins' ~1 s, so a machine busy with other
	// tests cannot make a graceful stop look cut off.
	const shutdownTimeout = 30 * time.Second
	p := startKeel(t, map[string]string{"BCRYPT_COST": fmt.Sprint(cost), "SHUTDOWN_TIMEOUT": shutdownTimeout.String()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := checkedClient(t, 30*time.Second, nil)
	if code, body, err := post(ctx, hc, p.url("/register"), creds("ada@example.com", "password123")); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v %s", code, err, body)
	}

	var sockets []*websocket.Conn
	for range 2 {
		ws, _, err := websocket.Dial(ctx, "ws://"+p.addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "Hello from keel WebSocket" {
			t.Fatalf("greeting %q %v", msg, err)
		}
		sockets = append(sockets, ws)
	}
	closes := make(chan websocket.StatusCode, len(sockets))
	for _, ws := range sockets {
		go func() {
			_, _, err := ws.Read(ctx)
			closes <- websocket.CloseStatus(err)
		}()
	}

	type result struct {
		code int
		err  error
		end  time.Time
	}
	const logins = 4
	results := make(chan result, logins)
	var sent sync.WaitGroup
	sent.Add(logins)
	for range logins {
		go func() {
			// A connection of its own, so each login is a separate in-flight request.
			c := checkedClient(t, 30*time.Second, &http.Transport{DisableKeepAlives: true})
			// Written in full before SIGTERM: a request still being
			// connected or written when the server stops is not in flight,
			// and on a loaded machine 50 ms did not always cover it.
			wrote := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sent.Done() }})
			code, _, err := post(wrote, c, p.url("/login"), creds("ada@example.com", "password123"))
			results <- result{code, err, time.Now()}
		}()
	}
	sent.Wait()
	time.Sleep(50 * time.Millisecond) // the logins are read and hashing (each takes about 250 ms)
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for range logins {
		r := <-results
		switch {
		case r.err != nil || r.code != http.StatusOK:
			t.Errorf("in-flight login: %d %v", r.code, r.err)
		case r.end.Before(sigterm):
			t.Errorf("a login finished %v before SIGTERM: not in flight, so it proves nothing (bcrypt cost %d too low?)", sigterm.Sub(r.end), cost)
		}
	}
	for range sockets {
		select {
		case got := <-closes:
			if got != websocket.StatusGoingAway {
				t.Errorf("WebSocket closed with %v, want 1001 (going away)", got)
			}
		case <-time.After(shutdownTimeout):
			t.Errorf("WebSocket not closed %v after SIGTERM", shutdownTimeout)
		}
	}
	code := p.wait(shutdownTimeout + 5*time.Second)
	took := time.Since(sigterm)
	if code != 0 {
		t.Errorf("exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if out := p.stdout.String(); !strings.Contains(out, `"msg":"stopped"`) || strings.Contains(out, "cut off") || strings.Contains(out, "still open") {
		t.Errorf("no clean stop in the log:\n%.4000s", out)
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", p.stderr)
	}
	t.Logf("bcrypt cost %d; exited %v after SIGTERM", cost, took)
}

// slowBcryptCost picks the bcrypt cost at which one hash takes about a
// quarter of a second in this keel binary on this machine (the race detector
// makes bcrypt several times slower), timing registrations on a throwaway
// keel at cost 8: long enough for logins to be in flight at SIGTERM, short
// enough to keep the test quick. Between 6 and 15.
func slowBcryptCost(t *testing.T) int {
	t.Helper()
	const probe = 8
	p := startKeel(t, map[string]string{"BCRYPT_COST": fmt.Sprint(probe), "HASH_WORKERS": "1"})
	hc := checkedClient(t, 30*time.Second, nil)
	ctx := t.Context()
	best := time.Duration(math.MaxInt64)
	for i := range 3 {
		start := time.Now()
		code, body, err := post(ctx, hc, p.url("/register"), creds(fmt.Sprintf("calibrate%d@example.com", i), "password123"))
		if err != nil || code != http.StatusCreated {
			t.Fatalf("calibrate: %d %v %s", code, err, body)
		}
		best = min(best, time.Since(start))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
	cost := probe + int(math.Round(math.Log2(float64(250*time.Millisecond)/float64(best))))
	return max(6, min(cost, 15))
}

// TestProcessBadDatabase: a database keel cannot use stops it at start with a
// non-zero exit and a message naming the database on stderr, never a panic.
func TestProcessBadDatabase(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	random := make([]byte, 16<<10)
	rand.Read(random)

	type tc struct {
		name string
		path func(t *testing.T) string
	}
	cases := []tc{
		{"random bytes", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "keel.db")
			os.WriteFile(f, random, 0o600)
			return f
		}},
		{"a text file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "keel.db")
			os.WriteFile(f, []byte(strings.Repeat("this is not a database\n", 500)), 0o600)
			return f
		}},
		{"a SQLite header then garbage", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "keel.db")
			os.WriteFile(f, append([]byte("SQLite format 3\x00"), random...), 0o600)
			return f
		}},
		{"parent is a regular file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, []byte("x"), 0o600)
			return filepath.Join(f, "keel.db")
		}},
		{"a directory", func(t *testing.T) string { return t.TempDir() }},
	}
	if os.Geteuid() == 0 {
		// chmod does not stop root; /proc refuses new files even to root.
		cases = append(cases,
			tc{"unwritable folder (/proc)", func(*testing.T) string { return "/proc/keel-process-test.db" }},
			tc{"uncreatable folder (/proc)", func(*testing.T) string { return "/proc/keel-process-test/keel.db" }})
	} else {
		cases = append(cases, tc{"unwritable folder", func(t *testing.T) string {
			d := t.TempDir()
			os.Chmod(d, 0o500)
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			return filepath.Join(d, "keel.db")
		}})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path(t)
			p := launch(t, map[string]string{"DATABASE_URL": path})
			code := p.wait(20 * time.Second)
			out, errOut := p.stdout.String(), p.stderr.String()
			if code == 0 {
				t.Errorf("exit code 0 for DATABASE_URL=%s\nstdout:\n%s\nstderr:\n%s", path, out, errOut)
			}
			if code == -1 {
				t.Errorf("killed by a signal: %v", p.waitErr)
			}
			if !strings.HasPrefix(errOut, "keel: ") || !strings.Contains(errOut, "database") || !strings.Contains(errOut, path) {
				t.Errorf("stderr does not name the database problem clearly:\n%s", errOut)
			}
			for _, bad := range []string{"panic", "goroutine "} {
				if strings.Contains(out+errOut, bad) {
					t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", bad, out, errOut)
				}
			}
			if strings.Contains(out, `"msg":"listening"`) {
				t.Errorf("keel listened on an unusable database:\n%s", out)
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(errOut))
		})
	}
}

// TestProcessBadPostgres: a PostgreSQL database keel cannot use (a URL that
// does not parse, no server, a wrong password, no such database) stops it at
// start with a non-zero exit and "keel: " and the reason on stderr: never a
// panic, and never the password in any output.
func TestProcessBadPostgres(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	const secret = "hunter2-not-shown"
	server, err := url.Parse(pgtest.Server(t))
	if err != nil {
		t.Fatal(err)
	}
	realPassword, _ := server.User.Password()
	missingDB := *server
	missingDB.Path = "/keel_no_such_database"

	cases := []struct{ name, url, want string }{
		{"a port that is not a number", "postgres://keel:" + secret + "@db:notaport/keel", "DATABASE_URL"},
		{"an option pgx rejects", "postgres://keel:" + secret + "@db/keel?sslmode=sometimes", "not a PostgreSQL URL"},
		{"nothing listening", "postgres://keel:" + secret + "@127.0.0.1:" + pgtest.UnusedPort(t) + "/keel?sslmode=disable", "cannot reach the server"},
		{"a wrong password", "", "refused the user or password"}, // pgtest.WrongPassword
		{"no such database", missingDB.String(), "no such database"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := tt.url
			if u == "" {
				u = pgtest.WrongPassword(t, secret)
			}
			p := launch(t, map[string]string{"DATABASE_URL": u})
			code := p.wait(30 * time.Second)
			out, errOut := p.stdout.String(), p.stderr.String()
			switch code {
			case 0:
				t.Errorf("exit code 0\nstdout:\n%s\nstderr:\n%s", out, errOut)
			case -1:
				t.Errorf("killed by a signal: %v", p.waitErr)
			}
			if !strings.HasPrefix(errOut, "keel: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr does not say %q after \"keel: \":\n%s", tt.want, errOut)
			}
			for _, bad := range []string{"panic", "goroutine ", secret, realPassword} {
				if bad != "" && strings.Contains(out+errOut, bad) {
					t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", bad, out, errOut)
				}
			}
			if strings.Contains(out, `"msg":"listening"`) {
				t.Errorf("keel listened without its database:\n%s", out)
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(errOut))
		})
	}
}
