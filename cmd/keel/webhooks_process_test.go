package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/webhooks"
)

// TestProcessWebhookSurvivesKill: an endpoint registered with keel
// webhooks create answers 500, so keel keeps retrying the user.updated
// event of a PATCH /profile; keel is killed with SIGKILL between attempts,
// the receiver is fixed, and a new keel on the same database delivers the
// event, under the webhook-id of the attempts before the kill, signed with
// the secret the CLI printed. Both engines.
func TestProcessWebhookSurvivesKill(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	for _, engine := range []string{engineSQLite, enginePostgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOKS_RETRY_MIN": "300ms", "WEBHOOKS_TIMEOUT": "2s",
			}
			if engine == enginePostgres {
				env["DATABASE_URL"] = pgtest.NewDatabase(t)
			} else {
				env["DATABASE_URL"] = filepath.Join(t.TempDir(), "keel.db")
			}
			testWebhookSurvivesKill(t, env)
		})
	}
}

func testWebhookSurvivesKill(t *testing.T, env map[string]string) {
	var healthy atomic.Bool
	var mu sync.Mutex
	type delivery struct {
		id, ts, sig string
		body        []byte
		status      int
	}
	var got []delivery
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := http.StatusInternalServerError
		if healthy.Load() {
			status = http.StatusOK
		}
		mu.Lock()
		got = append(got, delivery{r.Header.Get(webhooks.HeaderID), r.Header.Get(webhooks.HeaderTimestamp), r.Header.Get(webhooks.HeaderSignature), body, status})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	defer recv.Close()
	deliveries := func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}

	cliEnv := map[string]string{"JWT_SECRET": testSecret, "KEYS_KEK": testKEK}
	for k, v := range env {
		cliEnv[k] = v
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"webhooks", "create", "--url", recv.URL + "/hooks", "--event", "user.updated"},
		func(k string) string { return cliEnv[k] }, &out); err != nil {
		t.Fatalf("keel webhooks create: %v", err)
	}
	m := regexp.MustCompile(`secret: (whsec_\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no secret in %q", out.String())
	}
	key, err := webhooks.DecodeSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}

	p := startKeel(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hc := checkedClient(t, 10*time.Second, nil)
	if code, body, err := post(ctx, hc, p.url("/register"), creds("hook@example.com", "password123")); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v %s", code, err, body)
	}
	code, body, err := post(ctx, hc, p.url("/login"), creds("hook@example.com", "password123"))
	if err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v %s", code, err, body)
	}
	var tok struct{ Token string }
	json.Unmarshal(body, &tok)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, p.url("/profile"), bytes.NewReader([]byte(`{"user_metadata":{"plan":"pro"}}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	res, err := hc.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /profile: %v %v", res, err)
	}
	res.Body.Close()

	// Killed between attempts (each answered at once, then 300 ms, 600 ms...
	// of waiting), once River has recorded the failed attempt: the job is
	// retryable, not running, so the next keel takes it at once. (Killed
	// before River's completer wrote the attempt down, the job stays
	// running until the rescuer takes it back, which is what
	// TestOncePerClusterAndFailover holds, and here only costs a minute.)
	driver, dsn := "sqlite", "file:"+env["DATABASE_URL"]+"?mode=ro"
	if strings.Contains(env["DATABASE_URL"], "://") {
		driver, dsn = "pgx", env["DATABASE_URL"]
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	retryable := func() bool {
		var n int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_deliver' AND state = 'retryable'`).Scan(&n)
		return err == nil && n == 1
	}
	waitUntil(t, time.Minute, "two failed attempts, the job retryable", func() bool { return len(deliveries()) >= 2 && retryable() })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(5 * time.Second)
	before := deliveries()
	healthy.Store(true)

	p = startKeel(t, env)
	waitUntil(t, time.Minute, "a delivery after the restart", func() bool {
		ds := deliveries()
		return ds[len(ds)-1].status == http.StatusOK
	})
	ds := deliveries()
	last := ds[len(ds)-1]
	if last.id == "" || last.id != before[0].id {
		t.Errorf("webhook-id after the restart %q, before %q: want the same", last.id, before[0].id)
	}
	ts, _ := strconv.ParseInt(last.ts, 10, 64)
	if want := webhooks.Signature(key, last.id, time.Unix(ts, 0), last.body); last.sig != want {
		t.Errorf("signature %q, want %q (the CLI's secret)", last.sig, want)
	}
	var payload struct {
		Type string
		Data map[string]any
	}
	if err := json.Unmarshal(last.body, &payload); err != nil || payload.Type != "user.updated" {
		t.Errorf("payload %s: %v", last.body, err)
	}
	time.Sleep(time.Second)
	if n := len(deliveries()); n != len(ds) {
		t.Errorf("%d requests after the 200, want none", n-len(ds))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > d {
			t.Fatalf("after %v: %s", d, what)
		}
	}
}
