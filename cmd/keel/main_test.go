package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelhq/keel/gen/client"
	"github.com/keelhq/keel/internal/contract"
	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/testutil"
)

// syncBuffer is shared with the logger under test.
type syncBuffer = testutil.SyncBuffer

// start runs keel on a free port and returns its address and a function that
// stops it and returns run's error.
func start(t *testing.T, env map[string]string) (addr string, out *syncBuffer, stop func() error) {
	t.Helper()
	base := map[string]string{
		"ADDR":         "127.0.0.1:0",
		"DATABASE_URL": filepath.Join(t.TempDir(), "data", "keel.db"),
		"BCRYPT_COST":  "4",
		"JOB_INTERVAL": "20ms",
		"LOG_LEVEL":    "debug", // the job logs its count at debug
	}
	for k, v := range env {
		base[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return base[k] }, out) }()

	re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	deadline := time.Now().Add(startTimeout) // see startKeel
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("keel did not start:\n%s", out)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return addr, out, stop
}

// TestEndToEnd runs the real binary's run, then the generated Go client
// registers, logs in and reads the profile, and a WebSocket client gets the
// greeting and, on shutdown, close 1001.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	addr, out, stop := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	v, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &contract.Transport{V: v, Fail: t.Errorf}}
	c, err := client.NewClientWithResponses("http://"+addr, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}

	reg, err := c.RegisterWithResponse(ctx, client.RegisterRequest{Email: "Ada@Example.com", Password: "password123"})
	if err != nil || reg.JSON201 == nil {
		t.Fatalf("register: %v %s", err, reg.Body)
	}
	login, err := c.LoginWithResponse(ctx, client.LoginRequest{Email: "ada@example.com", Password: "password123"})
	if err != nil || login.JSON200 == nil {
		t.Fatalf("login: %v %s", err, login.Body)
	}
	bearer := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+login.JSON200.Token)
		return nil
	}
	prof, err := c.GetProfileWithResponse(ctx, bearer)
	if err != nil || prof.JSON200 == nil || prof.JSON200.ID != reg.JSON201.ID || prof.JSON200.Email != "ada@example.com" {
		t.Fatalf("profile: %v %s", err, prof.Body)
	}
	if unauth, _ := c.GetProfileWithResponse(ctx); unauth.ApplicationProblemJSON401 == nil {
		t.Errorf("profile without token: %d", unauth.StatusCode())
	}

	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "Hello from keel WebSocket" {
		t.Fatalf("greeting %q %v", msg, err)
	}

	// The job runs on its own every 20ms, once River has elected this process leader.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), `"users":1`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"users":1`) {
		t.Errorf("job did not log the count:\n%s", out)
	}

	closed := make(chan websocket.StatusCode, 1)
	go func() {
		_, _, err := ws.Read(ctx)
		closed <- websocket.CloseStatus(err)
	}()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := <-closed; got != websocket.StatusGoingAway {
		t.Errorf("WebSocket closed with %v, want 1001", got)
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", out)
	}
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, func(k string) string {
		if k == "JWT_TTL" {
			return "soon"
		}
		return ""
	}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "JWT_TTL") {
		t.Errorf("run with a bad JWT_TTL: %v", err)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return filepath.Join(dir, "keel.db")
		}
		return ""
	}
	tests := []struct {
		args []string
		want string // in stdout
		err  string // in the error; empty for success
	}{
		{args: []string{"--help"}, want: "keel migrate status"},
		{args: []string{"help"}, want: "AUTH_RATE_LIMIT"},
		{args: []string{"version"}, want: "keel "},
		{args: []string{"openapi"}, want: "openapi: 3.0"},
		{args: []string{"migrate", "status"}, err: "no such file"},
		{args: []string{"migrate"}, want: "schema version " + newestMigration(t, "sqlite")},
		{args: []string{"migrate", "status"}, want: "applied  keel  00002 00002_users_email_lookup.sql"},
		{args: []string{"migrate", "down"}, err: "usage: keel migrate"},
		{args: []string{"serve", "now"}, err: "no arguments"},
		{args: []string{"bogus"}, err: `unknown command "bogus"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, env, &out)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one with %q", err, tt.err)
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case !strings.Contains(out.String(), tt.want):
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

// TestConnectionLimits: a client that sends its headers too slowly is cut off
// at READ_HEADER_TIMEOUT, and oversized headers are refused, while the server
// keeps serving others.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	addr, _, _ := start(t, map[string]string{"READ_HEADER_TIMEOUT": "300ms"})

	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: keel\r\nX-Slow: ")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(conn) // returns when the server closes
		if took := time.Since(start); err != nil || took > 3*time.Second {
			t.Errorf("slow client held the connection %v (%v)", took, err)
		}
	})

	t.Run("oversized headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", res.StatusCode)
		}
	})

	res, err := checkedClient(t, 0, nil).Get("http://" + addr + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("server stopped serving: %v %v", res, err)
	}
	res.Body.Close()
}

// newestMigration is the version of engine's newest migration file (the
// schema version keel migrate reaches), so the tests need no change for a
// new migration.
func newestMigration(t *testing.T, engine string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "db", engine, "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations of %s: %v", engine, err)
	}
	newest := 0
	for _, f := range files {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(f), "%05d_", &n); err == nil && n > newest {
			newest = n
		}
	}
	return strconv.Itoa(newest)
}

// TestMigrateCommandsPostgres: keel migrate and keel migrate status on
// PostgreSQL: pending before, applied after, keel's and River's, and the
// password never in the output.
func TestMigrateCommandsPostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	envFor := func(url string) func(string) string {
		return func(k string) string {
			switch k {
			case "DATABASE_URL":
				return url
			case "JWT_SECRET":
				return testSecret
			}
			return ""
		}
	}
	// A deadline of its own: a command that waits on itself fails here
	// instead of hanging the test binary.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	command := func(url string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, envFor(url), &out)
		return out.String(), err
	}
	status := func() string {
		out, err := command(dbURL, "migrate", "status")
		if err != nil {
			t.Fatalf("migrate status: %v", err)
		}
		return out
	}
	if before := status(); !strings.Contains(before, "pending  keel  00001") || !strings.Contains(before, "pending  river 00001") {
		t.Errorf("status of an empty database:\n%s", before)
	}
	out, err := command(dbURL, "migrate")
	if err != nil || !strings.Contains(out, "schema version "+newestMigration(t, "postgres")) {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	after := status()
	if strings.Contains("\n"+after, "\npending ") || !strings.Contains(after, "applied  keel  00007") || !strings.Contains(after, "applied  river") {
		t.Errorf("status after migrate:\n%s", after)
	}
	if u, _ := url.Parse(dbURL); u.User != nil {
		if pw, ok := u.User.Password(); ok && strings.Contains(out+after, pw) {
			t.Error("the database password is in the output")
		}
	}

	// Status reads each migration on its own: with River's last one undone,
	// exactly that one is pending.
	conn, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var last int
	if err := conn.QueryRowContext(ctx, `DELETE FROM river_migration WHERE version = (SELECT max(version) FROM river_migration) RETURNING version`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if partial := status(); strings.Count(partial, "pending  river") != 1 || !strings.Contains(partial, fmt.Sprintf("pending  river %05d", last)) {
		t.Errorf("status with River's migration %d undone:\n%s", last, partial)
	}

	// A wrong password stops both commands, and neither says it.
	const secret = "probe-Secret-pw-42"
	bad := pgtest.WrongPassword(t, secret)
	for _, args := range [][]string{{"migrate"}, {"migrate", "status"}} {
		out, err := command(bad, args...)
		if err == nil || strings.Contains(err.Error()+out, secret) {
			t.Errorf("%v with a wrong password: %v\n%s", args, err, out)
		}
	}
}

// TestAsteriskOptions: "OPTIONS *" (the server-wide form) gets keel's 404
// problem, not net/http's bare 200 that no operation documents.
func TestAsteriskOptions(t *testing.T) {
	t.Parallel()
	addr, _, stop := start(t, nil)
	defer stop()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("OPTIONS *: %d %s, want a 404 problem", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
