package main

// The cluster test of WebSockets owned by sessions: three keel processes on
// one PostgreSQL database, where a session ending on one replica closes its
// sockets on every replica (docs/scaling.md).

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/internal/contract"
	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/ws"
)

// clusterSockets is how many sockets the mass-close subtest holds.
const clusterSockets = 1000

// TestClusterWebSockets: a socket on replica A closes with 4001 within 1 s
// of a logout on replica B; 1,000 sockets of one user over three replicas
// all close within 2 s of DELETE /sessions on one of them.
func TestClusterWebSockets(t *testing.T) {
	// serial: it times 1,000 close handshakes on the shared cores, which the
	// package's parallel tests (TestCluster's replicas among them) would
	// slow down; serial tests run before them.
	keelBinary(t) // skips under -short before PostgreSQL is started
	dbURL := pgtest.NewDatabase(t)
	env := clusterEnv(dbURL)
	v, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var replicas []*proc
	for range 3 {
		replicas = append(replicas, launch(t, env))
	}
	for i, p := range replicas {
		if err := waitListening(p, startTimeout); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	waitListeners(ctx, t, dbURL, len(replicas))

	// login logs email in on p as the client ip and returns the tokens.
	login := func(t *testing.T, p *proc, ip, email string) (access string) {
		t.Helper()
		code, body, err := post(ctx, clientAs(t, v, ip), p.url("/login"), creds(email, "password123"))
		var tok struct{ Token string }
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login on %s: %d %v %s", p.addr, code, err, body)
		}
		return tok.Token
	}
	send := func(t *testing.T, method string, p *proc, ip, path, tok string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, p.url(path), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := clientAs(t, v, ip).Do(req)
		if err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("%s %s on %s: %v %v", method, path, p.addr, res, err)
		}
		res.Body.Close()
	}
	hc := clientAs(t, v, "192.0.2.1")
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		if code, body, err := post(ctx, hc, replicas[0].url("/register"), creds(email, "password123")); err != nil || code != http.StatusCreated {
			t.Fatalf("register %s: %d %v %s", email, code, err, body)
		}
	}

	t.Run("a socket on A closes within 1 s of a logout on B", func(t *testing.T) {
		tok := login(t, replicas[0], "192.0.2.2", "ada@example.com")
		c := dialCluster(ctx, t, replicas[0], tok)
		if c == nil {
			t.FailNow()
		}
		closed := readClose(c)
		send(t, "POST", replicas[1], "192.0.2.2", "/logout", tok)
		loggedOut := time.Now()
		select {
		case r := <-closed:
			if r.code != 4001 {
				t.Fatalf("closed with %d (%v), want 4001", r.code, r.err)
			}
			if took := r.at.Sub(loggedOut); took > time.Second {
				t.Errorf("closed %s after the logout, want within 1 s", took)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the socket is still open 3 s after the logout")
		}
	})

	t.Run("an aal1 socket on A closes with 4004 within 1 s of a second factor confirmed on B", func(t *testing.T) {
		ip := "192.0.2.3"
		hc := clientAs(t, v, ip)
		if code, body, err := post(ctx, hc, replicas[0].url("/register"), creds("carol@example.com", "password123")); err != nil || code != http.StatusCreated {
			t.Fatalf("register carol: %d %v %s", code, err, body)
		}
		tok := login(t, replicas[0], ip, "carol@example.com")
		verifyEmail(ctx, t, hc, replicas, "carol@example.com", tok)
		c := dialCluster(ctx, t, replicas[0], tok)
		if c == nil {
			t.FailNow()
		}
		closed := readClose(c)
		other := login(t, replicas[1], ip, "carol@example.com")
		code, body := postOn(ctx, t, hc, replicas[1], "/mfa/totp", other, "")
		var e struct{ ID, Secret string }
		if json.Unmarshal(body, &e); code != http.StatusCreated {
			t.Fatalf("enrol on replica 1: %d %s", code, body)
		}
		totpCode, err := totp.GenerateCode(e.Secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code, body := postOn(ctx, t, hc, replicas[1], "/mfa/totp/"+e.ID+"/verify", other, `{"code":"`+totpCode+`"}`); code != http.StatusOK {
			t.Fatalf("confirm the factor on replica 1: %d %s", code, body)
		}
		confirmed := time.Now()
		select {
		case r := <-closed:
			if r.code != 4004 {
				t.Fatalf("closed with %d (%v), want 4004", r.code, r.err)
			}
			if took := r.at.Sub(confirmed); took > time.Second {
				t.Errorf("closed %s after the factor, want within 1 s", took)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the aal1 socket is still open 3 s after the factor")
		}
	})

	t.Run("1,000 sockets over three replicas close within 2 s of DELETE /sessions", func(t *testing.T) {
		// A hundred sessions of bob's, each logged in as a client of its own
		// (the auth rate limit counts per client): ten sockets each, the most
		// a session may hold across the cluster, spread over the replicas.
		var tokens []string
		for i := range clusterSockets / ws.MaxPerSession {
			tokens = append(tokens, login(t, replicas[i%3], fmt.Sprintf("192.0.2.%d", 10+i), "bob@example.com"))
		}
		// A bystander (ada, a new session) must stay open.
		bystander := dialCluster(ctx, t, replicas[2], login(t, replicas[2], "192.0.2.3", "ada@example.com"))
		if bystander == nil {
			t.FailNow()
		}
		bystanderClosed := readClose(bystander)

		conns := make([]*websocket.Conn, clusterSockets)
		var (
			wg    sync.WaitGroup
			limit = make(chan struct{}, 32)
		)
		for i := range conns {
			wg.Go(func() {
				limit <- struct{}{}
				defer func() { <-limit }()
				conns[i] = dialCluster(ctx, t, replicas[i%3], tokens[i%len(tokens)])
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		closes := make([]<-chan closeResult, len(conns))
		for i, c := range conns {
			closes[i] = readClose(c)
		}
		for i, p := range replicas {
			if n := metric(ctx, hc, p, "keel_websockets_open"); n < clusterSockets/3 {
				t.Errorf("replica %d holds %v sockets, want at least %d", i, n, clusterSockets/3)
			}
		}

		send(t, "DELETE", replicas[1], "192.0.2.10", "/sessions", tokens[0])
		ended := time.Now()
		var last time.Duration
		var first time.Duration = time.Hour
		deadline := time.After(5 * time.Second)
		for i, ch := range closes {
			select {
			case r := <-ch:
				if r.code != 4001 {
					t.Fatalf("socket %d (replica %d) closed with %d (%v), want 4001", i, i%3, r.code, r.err)
				}
				last = max(last, r.at.Sub(ended))
				first = min(first, r.at.Sub(ended))
			case <-deadline:
				t.Fatalf("socket %d (replica %d) still open 5 s after DELETE /sessions", i, i%3)
			}
		}
		t.Logf("%d sockets on 3 replicas closed within %s of DELETE /sessions (the first after %s)", clusterSockets, last, first)
		// 2 s is the promise, on a normal build (go test ./cmd/keel -run
		// TestClusterWebSockets holds it to that). Under the race detector
		// the three replicas and the test's 1,000 readers, on two shared
		// cores, have taken 2.1 s: twice the time still tells notifications
		// from the 30 s re-check that would otherwise close these sockets.
		within := 2 * time.Second
		if raceDetector {
			within *= 2
		}
		if last > within {
			t.Errorf("the last socket closed %s after DELETE /sessions, want within %s", last, within)
		}
		select {
		case r := <-bystanderClosed:
			t.Errorf("another user's socket closed too: %d %v", r.code, r.err)
		default:
		}
	})
	for i, p := range replicas {
		if s := p.stderr.String(); s != "" {
			t.Errorf("replica %d stderr:\n%s", i, s)
		}
	}
}

// waitListeners waits until n connections of the database listen for
// session endings: each replica's watch, which connects just after start.
func waitListeners(ctx context.Context, t *testing.T, dbURL string, n int) {
	t.Helper()
	conn, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replicas listen for session endings (%v)", got, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialCluster opens /ws on p with tok in the bearer subprotocol and reads
// the greeting.
func dialCluster(ctx context.Context, t *testing.T, p *proc, tok string) *websocket.Conn {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(dctx, "ws://"+p.addr+"/ws", &websocket.DialOptions{Subprotocols: []string{"bearer", tok}})
	if err != nil {
		t.Errorf("dial %s: %v (%v)", p.addr, err, res)
		return nil
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, msg, err := c.Read(dctx); err != nil || !strings.HasPrefix(string(msg), "Hello ") || !strings.Contains(string(msg), "@example.com") {
		t.Errorf("greeting on %s: %q %v", p.addr, msg, err)
	}
	return c
}

// closeResult is how and when a socket closed.
type closeResult struct {
	code websocket.StatusCode
	err  error
	at   time.Time
}

// readClose reads c until it closes, in a goroutine, and reports the close.
func readClose(c *websocket.Conn) <-chan closeResult {
	ch := make(chan closeResult, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		var ce websocket.CloseError
		r := closeResult{code: -1, err: err, at: time.Now()}
		if errors.As(err, &ce) {
			r.code = ce.Code
		}
		ch <- r
	}()
	return ch
}
