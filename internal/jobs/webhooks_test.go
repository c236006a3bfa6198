package jobs_test

// Webhook delivery on the job engine, on both databases: retries until a
// 2xx with one webhook-id, nothing for a rolled-back change, once per
// endpoint across replicas, the SSRF guard, both signatures during a
// rotation, and an endpoint disabled (and its admins told) after failing.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/webhooks"
)

// hookedStore is a store whose recorded events reach the engine's hook.
type hookedStore interface {
	store
	webhooks.Store
	SetEventHook(func(context.Context, *sql.Tx, db.Event) error)
}

var testSealer = func() *mfa.Keys {
	k, err := mfa.New([]byte(strings.Repeat("webhook test key ", 3)))
	if err != nil {
		panic(err)
	}
	return k
}()

// receiver is an endpoint that answers status(n) to its n-th request
// (from 1) and keeps every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
}

func newReceiver(t testing.TB, status func(n int) int) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, body)
		n := len(r.got)
		r.mu.Unlock()
		w.WriteHeader(status(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) request(i int) (*http.Request, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[i], r.bodies[i]
}

// webhookConfig delivers fast: 20 ms before the first retry.
func webhookConfig(allowPrivate bool) jobs.Config {
	return jobs.Config{CountUsersEvery: time.Hour, Webhooks: jobs.WebhooksConfig{
		Sealer: testSealer, AllowPrivate: allowPrivate, Timeout: 2 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryFor: time.Minute, DisableAfter: time.Hour,
	}}
}

// addEndpoint registers url for events and returns it with its secret's key.
func addEndpoint(t testing.TB, s webhooks.Store, url string, events ...string) (webhooks.Endpoint, []byte) {
	t.Helper()
	ep, secret := webhooks.NewEndpoint(testSealer, url, events, time.Now())
	if err := s.CreateWebhookEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	key, err := webhooks.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return ep, key
}

// hooked opens a store of engine with an engine started on it (cfg),
// its events hooked to the engine.
func hooked(t *testing.T, open func(t testing.TB) testDB, cfg jobs.Config) (hookedStore, testDB) {
	t.Helper()
	tdb := open(t)
	s := tdb.store.(hookedStore)
	e, _ := startEngine(t, s, cfg)
	s.SetEventHook(e.EventHook)
	return s, tdb
}

// createUser registers email and records user.created in its transaction.
func createUser(t *testing.T, s store, email string, fail error) (db.User, error) {
	t.Helper()
	return s.CreateUser(context.Background(), email, "hash", time.Now(), func(tx *sql.Tx, u db.User) error {
		if err := s.RecordEventTx(context.Background(), tx, db.Event{
			Type: "user.created", CreatedAt: time.Now(), UserID: u.ID, Actor: db.ActorUser(u.ID),
			Data: json.RawMessage(`{"method":"register"}`),
		}); err != nil {
			return err
		}
		return fail
	})
}

// checkSigned fails unless req is signed with key over body.
func checkSigned(t *testing.T, req *http.Request, body []byte, keys ...[]byte) {
	t.Helper()
	ts, err := strconv.ParseInt(req.Header.Get(webhooks.HeaderTimestamp), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", req.Header.Get(webhooks.HeaderTimestamp))
	}
	sigs := strings.Fields(req.Header.Get(webhooks.HeaderSignature))
	if len(sigs) != len(keys) {
		t.Fatalf("webhook-signature %q: want %d signatures", req.Header.Get(webhooks.HeaderSignature), len(keys))
	}
	for i, k := range keys {
		if want := webhooks.Signature(k, req.Header.Get(webhooks.HeaderID), time.Unix(ts, 0), body); sigs[i] != want {
			t.Errorf("signature %d = %s, want %s", i, sigs[i], want)
		}
	}
}

// attempted waits for the one delivery of endpoint epID to have an
// attempt recorded, and returns it.
func attempted(t *testing.T, s webhooks.Store, epID string) webhooks.Delivery {
	t.Helper()
	var d webhooks.Delivery
	waitFor(t, 10*time.Second, "an attempt recorded", func() bool {
		ds, err := s.WebhookDeliveries(context.Background(), epID, "", 0, 10)
		if err != nil || len(ds) != 1 || ds[0].Attempts < 1 {
			return false
		}
		d = ds[0]
		return true
	})
	return d
}

// TestWebhookRetriedUntilDelivered: a receiver answering 500 twice and then
// 200 gets the event three times under one webhook-id, each signed, and the
// delivery is recorded delivered after 3 attempts.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hooked(t, engine.open, webhookConfig(true))
			r := newReceiver(t, func(n int) int {
				if n <= 2 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			})
			ep, key := addEndpoint(t, s, r.URL, "user.created")
			u, err := createUser(t, s, "a@example.com", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "three attempts", func() bool { return r.count() >= 3 })
			var ids []string
			for i := range 3 {
				req, body := r.request(i)
				ids = append(ids, req.Header.Get(webhooks.HeaderID))
				checkSigned(t, req, body, key)
				var p struct {
					Type string
					Data map[string]any
				}
				if err := json.Unmarshal(body, &p); err != nil || p.Type != "user.created" || p.Data["user_id"] != float64(u.ID) || p.Data["method"] != "register" {
					t.Errorf("body %s: %v", body, err)
				}
			}
			if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
				t.Errorf("webhook-ids %q: want one, the same", ids)
			}
			waitFor(t, 5*time.Second, "the delivery recorded", func() bool {
				ds, err := s.WebhookDeliveries(context.Background(), ep.ID, "", 0, 10)
				return err == nil && len(ds) == 1 && ds[0].State == webhooks.StateDelivered && ds[0].Attempts == 3
			})
			time.Sleep(200 * time.Millisecond)
			if n := r.count(); n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
		})
	}
}

// TestWebhookNothingForRollback: an event recorded in a change that rolls
// back sends nothing; the next committed one is sent.
func TestWebhookNothingForRollback(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hooked(t, engine.open, webhookConfig(true))
			r := newReceiver(t, func(int) int { return http.StatusNoContent })
			addEndpoint(t, s, r.URL, "user.created")
			boom := errors.New("boom")
			if _, err := createUser(t, s, "rolled@example.com", boom); !errors.Is(err, boom) {
				t.Fatalf("CreateUser: %v, want boom", err)
			}
			if _, err := createUser(t, s, "kept@example.com", nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the committed event", func() bool { return r.count() >= 1 })
			time.Sleep(500 * time.Millisecond)
			if n := r.count(); n != 1 {
				t.Fatalf("%d deliveries, want 1", n)
			}
			_, body := r.request(0)
			if strings.Contains(string(body), "rolled") {
				t.Errorf("the rolled-back change was sent: %s", body)
			}
		})
	}
}

// TestWebhookRefusesLoopback: without WEBHOOKS_ALLOW_PRIVATE a receiver on
// 127.0.0.1 is never connected to, and the attempt records the refusal;
// with it, the same receiver gets the event.
func TestWebhookRefusesLoopback(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		for _, allow := range []bool{false, true} {
			t.Run(engine.name+"/allow_private="+strconv.FormatBool(allow), func(t *testing.T) {
				t.Parallel()
				s, _ := hooked(t, engine.open, webhookConfig(allow))
				r := newReceiver(t, func(int) int { return http.StatusOK })
				ep, _ := addEndpoint(t, s, r.URL, "user.created")
				if _, err := createUser(t, s, "a@example.com", nil); err != nil {
					t.Fatal(err)
				}
				d := attempted(t, s, ep.ID)
				if allow {
					if d.State != webhooks.StateDelivered || r.count() != 1 {
						t.Errorf("allowed: delivery %s (%q), %d requests; want it delivered once", d.State, d.LastError, r.count())
					}
					return
				}
				if !strings.Contains(d.LastError, "not public") || d.State == webhooks.StateDelivered {
					t.Errorf("delivery %s (%q): want the address refused", d.State, d.LastError)
				}
				if n := r.count(); n != 0 {
					t.Errorf("the loopback receiver got %d requests", n)
				}
			})
		}
	}
}

// TestWebhookRedirectNotFollowed: a receiver answering 307 to another
// address fails the attempt (status 307 recorded) and the address it
// names is never requested: a redirect could point a delivery anywhere,
// past the check of the address registered.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hooked(t, engine.open, webhookConfig(true))
			target := newReceiver(t, func(int) int { return http.StatusOK })
			redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/elsewhere", http.StatusTemporaryRedirect))
			t.Cleanup(redirect.Close)
			ep, _ := addEndpoint(t, s, redirect.URL, "user.created")
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			d := attempted(t, s, ep.ID)
			if d.LastStatus != http.StatusTemporaryRedirect || d.State == webhooks.StateDelivered {
				t.Errorf("delivery %s, status %d (%q): want a failed attempt with 307", d.State, d.LastStatus, d.LastError)
			}
			if n := target.count(); n != 0 {
				t.Errorf("the redirect was followed: its target got %d requests", n)
			}
		})
	}
}

// TestWebhookGivesUpAfterRetryFor: a receiver that always fails gets
// attempts backing off from RetryMin until RetryFor has passed since the
// delivery was queued; then the delivery is failed (listed for a resend)
// and no attempt follows. The endpoint stays enabled (DisableAfter is
// longer).
func TestWebhookGivesUpAfterRetryFor(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			cfg := webhookConfig(true)
			// RetryFor leaves room for a first attempt that a loaded
			// machine's job fetch delays by a second or two.
			cfg.Webhooks.RetryMin, cfg.Webhooks.RetryFor = 100*time.Millisecond, 3*time.Second
			s, _ := hooked(t, engine.open, cfg)
			r := newReceiver(t, func(int) int { return http.StatusBadGateway })
			ep, _ := addEndpoint(t, s, r.URL, "user.created")
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			var d webhooks.Delivery
			waitFor(t, 20*time.Second, "the delivery failed", func() bool {
				ds, err := s.WebhookDeliveries(context.Background(), ep.ID, webhooks.StateFailed, 0, 10)
				if err != nil || len(ds) != 1 {
					return false
				}
				d = ds[0]
				return true
			})
			// Waits of 100, 200, 400, 800 ms... fit about five attempts in
			// 3 s when nothing delays them; retrying until the attempt
			// count ran out instead (~35) would never fail in the wait above.
			if d.Attempts < 2 || d.Attempts > 7 || d.LastStatus != http.StatusBadGateway {
				t.Errorf("failed after %d attempts (last status %d), want 2 to 7, each a 502", d.Attempts, d.LastStatus)
			}
			time.Sleep(time.Second)
			if n := r.count(); int64(n) != d.Attempts {
				t.Errorf("%d requests after the delivery failed after %d attempts: retried after giving up", n, d.Attempts)
			}
			if got, err := s.WebhookEndpoint(context.Background(), ep.ID); err != nil || !got.Enabled() {
				t.Errorf("endpoint %+v, %v: want it enabled", got, err)
			}
		})
	}
}

// TestWebhookRotationSignsWithBoth: during a rotation's overlap each
// delivery carries the new secret's signature and the old one's.
func TestWebhookRotationSignsWithBoth(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hooked(t, engine.open, webhookConfig(true))
			r := newReceiver(t, func(int) int { return http.StatusOK })
			ep, oldKey := addEndpoint(t, s, r.URL, "user.created")
			var newSecret string
			if _, err := s.UpdateWebhookEndpoint(context.Background(), ep.ID, func(e *webhooks.Endpoint) error {
				newSecret = webhooks.Rotate(testSealer, e, time.Now(), time.Hour)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			newKey, _ := webhooks.DecodeSecret(newSecret)
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the delivery", func() bool { return r.count() >= 1 })
			req, body := r.request(0)
			checkSigned(t, req, body, newKey, oldKey)
		})
	}
}

// TestWebhookOncePerEndpointAcrossReplicas: three engines on one database
// (three replicas), each recording events: every event reaches each of two
// endpoints exactly once.
func TestWebhookOncePerEndpointAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			first, tdb := hooked(t, engine.open, webhookConfig(true))
			replicas := []hookedStore{first}
			for range 2 {
				var s hookedStore
				if tdb.url != "" {
					s = openPostgres(t, tdb.url)
				} else {
					s = first // SQLite is one process: more engines on its one store
				}
				e, _ := startEngine(t, s, webhookConfig(true))
				if s != first {
					s.SetEventHook(e.EventHook)
				}
				replicas = append(replicas, s)
			}
			var rs []*receiver
			for range 2 {
				r := newReceiver(t, func(int) int { return http.StatusOK })
				addEndpoint(t, first, r.URL, "user.created")
				rs = append(rs, r)
			}
			const users = 9
			for i := range users {
				if _, err := createUser(t, replicas[i%3], "u"+strconv.Itoa(i)+"@example.com", nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range rs {
				waitFor(t, 20*time.Second, "every event", func() bool { return r.count() >= users })
			}
			time.Sleep(time.Second)
			for i, r := range rs {
				seen := map[string]int{}
				for j := range r.count() {
					req, _ := r.request(j)
					seen[req.Header.Get(webhooks.HeaderID)]++
				}
				if r.count() != users || len(seen) != users {
					t.Errorf("endpoint %d: %d requests, %d webhook-ids; want %d of each", i, r.count(), len(seen), users)
				}
			}
		})
	}
}

// TestWebhookEndpointDisabled: an endpoint failing for longer than
// DisableAfter is disabled (reason failing), its delivery is failed, and
// each admin gets a mail naming it.
func TestWebhookEndpointDisabled(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			box := &inbox{}
			cfg := webhookConfig(true)
			cfg.Mailer = box
			cfg.Webhooks.DisableAfter = 100 * time.Millisecond
			s, tdb := hooked(t, engine.open, cfg)
			admin, err := createUser(t, s, "admin@example.com", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tdb.raw.Exec("UPDATE users SET role = 'admin' WHERE id = " + strconv.FormatInt(admin.ID, 10)); err != nil {
				t.Fatal(err)
			}
			r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
			ep, _ := addEndpoint(t, s, r.URL, "user.created")
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the admin's mail", func() bool {
				for _, m := range box.all() {
					if m.To == "admin@example.com" && strings.Contains(m.Text, ep.ID) {
						return true
					}
				}
				return false
			})
			got, err := s.WebhookEndpoint(context.Background(), ep.ID)
			if err != nil || got.Enabled() || got.DisabledReason != webhooks.DisabledFailing {
				t.Errorf("endpoint %+v, %v: want disabled for failing", got, err)
			}
			waitFor(t, 5*time.Second, "the delivery failed", func() bool {
				ds, err := s.WebhookDeliveries(context.Background(), ep.ID, webhooks.StateFailed, 0, 10)
				return err == nil && len(ds) == 1
			})
		})
	}
}

// TestWebhookTimeoutRecorded: a receiver slower than WEBHOOKS_TIMEOUT fails
// the attempt, and the failure is recorded ("did not answer in time"): the
// delivery job's own timeout is longer than the attempt's, so the job is
// not cut off before it writes the outcome, nor the attempt cut short by it.
func TestWebhookTimeoutRecorded(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			cfg := webhookConfig(true)
			cfg.Webhooks.Timeout = 300 * time.Millisecond
			cfg.Webhooks.RetryMin, cfg.Webhooks.RetryFor = time.Minute, time.Hour // one attempt in the test's time, retried after
			s, _ := hooked(t, engine.open, cfg)
			slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}))
			t.Cleanup(slow.Close)
			ep, _ := addEndpoint(t, s, slow.URL, "user.created")
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			d := attempted(t, s, ep.ID)
			if !strings.Contains(d.LastError, "did not answer in time") || d.State != webhooks.StatePending || d.LastStatus != 0 {
				t.Errorf("delivery %s after %d attempts, status %d, error %q: want a timed-out attempt, still pending (retried)",
					d.State, d.Attempts, d.LastStatus, d.LastError)
			}
		})
	}
}

// TestWebhookMetrics: keel_webhook_attempts_total counts each attempt by
// result (both at 0 before the first), and keel_webhook_lag_seconds
// observes each delivery once, at its 2xx, from the event: a receiver
// answering 500 and then 200 makes one failed attempt, one delivered, and
// one lag as long as the retry took at least.
func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s := engine.open(t).store.(hookedStore)
			cfg := webhookConfig(true)
			cfg.Webhooks.RetryMin = 200 * time.Millisecond
			e, reg := startEngine(t, s, cfg)
			s.SetEventHook(e.EventHook)
			for _, result := range []string{"delivered", "failed"} {
				if v, ok := metric(t, reg, "keel_webhook_attempts_total", "result", result); !ok || v != 0 {
					t.Errorf(`before any attempt, keel_webhook_attempts_total{result=%q} = %v (present %v), want 0`, result, v, ok)
				}
			}
			r := newReceiver(t, func(n int) int {
				if n == 1 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			})
			ep, _ := addEndpoint(t, s, r.URL, "user.created")
			if _, err := createUser(t, s, "a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the delivery recorded", func() bool {
				ds, err := s.WebhookDeliveries(context.Background(), ep.ID, webhooks.StateDelivered, 0, 10)
				return err == nil && len(ds) == 1
			})
			for result, want := range map[string]float64{"delivered": 1, "failed": 1} {
				if v, _ := metric(t, reg, "keel_webhook_attempts_total", "result", result); v != want {
					t.Errorf(`keel_webhook_attempts_total{result=%q} = %v, want %v`, result, v, want)
				}
			}
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var count uint64
			var sum float64
			for _, f := range families {
				if f.GetName() == "keel_webhook_lag_seconds" {
					h := f.GetMetric()[0].GetHistogram()
					count, sum = h.GetSampleCount(), h.GetSampleSum()
				}
			}
			if count != 1 || sum < 0.2 || sum > 20 {
				t.Errorf("keel_webhook_lag_seconds: %d observations summing %vs, want one of 0.2 s (the retry's wait) or more", count, sum)
			}
		})
	}
}

// TestWebhookNothingForImport: an account an import brings in (user.created
// with method import) is not sent, whoever records it, while one
// registered after it is.
func TestWebhookNothingForImport(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hooked(t, engine.open, webhookConfig(true))
			r := newReceiver(t, func(int) int { return http.StatusNoContent })
			addEndpoint(t, s, r.URL, "user.created")
			ctx := context.Background()
			if _, err := s.CreateUser(ctx, "imported@example.com", "hash", time.Now(), func(tx *sql.Tx, u db.User) error {
				return s.RecordEventTx(ctx, tx, db.Event{Type: "user.created", CreatedAt: time.Now(), UserID: u.ID, Actor: db.ActorCLI,
					Data: json.RawMessage(`{"method":"import"}`)})
			}); err != nil {
				t.Fatal(err)
			}
			u, err := createUser(t, s, "registered@example.com", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the registration's delivery", func() bool { return r.count() >= 1 })
			time.Sleep(500 * time.Millisecond)
			_, body := r.request(0)
			if n := r.count(); n != 1 || !strings.Contains(string(body), `"user_id":`+strconv.FormatInt(u.ID, 10)) {
				t.Errorf("%d deliveries, the first %s; want the registration's alone", n, body)
			}
		})
	}
}

// TestWebhookSessionExpired: prune-accounts records the ending of each
// expired session (session.ended, why expired, actor system, with the
// session and when it expired) in the transaction that deletes it, so an
// endpoint of session.ended hears of it within the job's interval; a live
// session sends nothing.
func TestWebhookSessionExpired(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Now()
			tdb := engine.open(t)
			s := tdb.store.(hookedStore)
			u, err := createUser(t, s, "a@example.com", nil)
			if err != nil {
				t.Fatal(err)
			}
			expiredAt := now.Add(-time.Hour).UTC().Truncate(time.Millisecond)
			for id, expires := range map[string]time.Time{"expired": expiredAt, "live": now.Add(time.Hour)} {
				if err := s.CreateSession(ctx, db.Session{ID: id, UserID: u.ID, CreatedAt: now, LastUsedAt: now,
					Generation: 1, RefreshHash: "h-" + id, RotatedAt: now, RefreshExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
			}
			r := newReceiver(t, func(int) int { return http.StatusNoContent })
			addEndpoint(t, s, r.URL, "session.ended")
			cfg := webhookConfig(true)
			cfg.PruneEvery = 300 * time.Millisecond
			e, _ := startEngine(t, s, cfg)
			s.SetEventHook(e.EventHook)

			waitFor(t, 15*time.Second, "the expiry's delivery", func() bool { return r.count() >= 1 })
			time.Sleep(700 * time.Millisecond) // another run or two of the job
			_, body := r.request(0)
			var p struct {
				Type string
				Data map[string]any
			}
			if err := json.Unmarshal(body, &p); err != nil || p.Type != "session.ended" || p.Data["why"] != "expired" ||
				p.Data["session"] != "expired" || p.Data["actor"] != "system" || p.Data["user_id"] != float64(u.ID) ||
				p.Data["expired_at"] != expiredAt.Format("2006-01-02T15:04:05.000Z07:00") {
				t.Errorf("the delivery %s (%v): want session.ended why expired of the expired session", body, err)
			}
			if n := r.count(); n != 1 {
				t.Errorf("%d deliveries, want the expired session's alone", n)
			}
			ended, err := s.ListEvents(ctx, db.EventFilter{Type: "session.ended", Limit: 10})
			if err != nil || len(ended) != 1 {
				t.Errorf("session.ended recorded %d times (%v), want once", len(ended), err)
			}
			if _, err := s.GetSession(ctx, "live"); err != nil {
				t.Errorf("the live session: %v", err)
			}
		})
	}
}
