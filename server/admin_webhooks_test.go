package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/webhooks"
)

// hookReceiver is a webhook endpoint keeping what it is sent.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, hookRequest{req.Header.Clone(), body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// hookPayload is a delivery's body: {type, timestamp, data}.
type hookPayload struct {
	Type string
	Data map[string]any
}

func (r hookRequest) payload() (hookPayload, error) {
	var p hookPayload
	err := json.Unmarshal(r.body, &p)
	return p, err
}

// wait returns the n-th request (from 1) once it has come.
func (r *hookReceiver) wait(t *testing.T, n int) hookRequest {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		if len(r.reqs) >= n {
			req := r.reqs[n-1]
			r.mu.Unlock()
			return req
		}
		r.mu.Unlock()
	}
	t.Fatalf("no delivery %d", n)
	return hookRequest{}
}

// signedBy fails unless req carries one v1 signature per key, in order.
func signedBy(t *testing.T, req hookRequest, secrets ...string) {
	t.Helper()
	ts, _ := strconv.ParseInt(req.header.Get(webhooks.HeaderTimestamp), 10, 64)
	sigs := strings.Fields(req.header.Get(webhooks.HeaderSignature))
	if len(sigs) != len(secrets) {
		t.Fatalf("signatures %q, want %d", sigs, len(secrets))
	}
	for i, s := range secrets {
		key, err := webhooks.DecodeSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := webhooks.Signature(key, req.header.Get(webhooks.HeaderID), time.Unix(ts, 0), req.body); sigs[i] != want {
			t.Errorf("signature %d: %s, want %s", i, sigs[i], want)
		}
	}
}

// TestAdminWebhooks: an admin registers an endpoint (its secret shown once,
// never listed), a user's change is delivered to it signed, the delivery
// is listed and resent under the same webhook-id and body with a new
// timestamp and signature (those of the resend's time); a
// rotation signs with both secrets; PATCH and DELETE; a non-admin is
// refused every operation.
func TestAdminWebhooks(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.WebhooksAllowPrivate, c.WebhooksRotationOverlap = true, time.Hour })
	a.startJobs()
	pair, _ := a.adminAccount("root@example.com")
	admin := bearer(pair.Token)
	a.mustRegister("ada@example.com", "password123")
	ada := a.mustLogin("ada@example.com", "password123")
	r := newHookReceiver(t)

	for _, body := range []string{
		`{"url": "ftp://example.com/", "events": ["user.updated"]}`,
		`{"url": "` + r.URL + `", "events": []}`,
		`{"url": "` + r.URL + `", "events": ["signin.failed"]}`,
	} {
		a.status(a.do("POST", "/admin/webhooks", body, admin...), 400, body)
	}
	a.status(a.do("POST", "/admin/webhooks", `{"url": "`+r.URL+`", "events": ["user.updated"]}`, bearer(ada)...), 403, "a user")

	created := decode[oapi.WebhookEndpointCreated](t, a.status(a.do("POST", "/admin/webhooks",
		`{"url": "`+r.URL+`/hooks", "events": ["user.updated", "user.created"]}`, admin...), 201, "create"))
	ep := created.Endpoint
	if !strings.HasPrefix(created.Secret, "whsec_") || !ep.Enabled || len(ep.Events) != 2 || ep.Events[0] != "user.created" {
		t.Fatalf("created %+v", created)
	}
	list := a.status(a.do("GET", "/admin/webhooks", "", admin...), 200, "list")
	if strings.Contains(list.Body.String(), "whsec_") || !strings.Contains(list.Body.String(), ep.ID) {
		t.Errorf("list: %s", list.Body)
	}
	// The answer's times are the stored ones (milliseconds), as a read
	// shows them later.
	if got := decode[oapi.WebhookEndpoint](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID, "", admin...), 200, "get")); !got.CreatedAt.Equal(ep.CreatedAt) {
		t.Errorf("created_at %v in the answer to POST, %v in a read", ep.CreatedAt, got.CreatedAt)
	}
	a.status(a.do("GET", "/admin/webhooks/ep_000000000000000000000000", "", admin...), 404, "get a missing one")

	// A user's change reaches it, signed.
	a.status(a.do("PATCH", "/profile", `{"user_metadata": {"plan": "pro"}}`, bearer(ada)...), 200, "PATCH /profile")
	first := r.wait(t, 1)
	signedBy(t, first, created.Secret)
	if payload, err := first.payload(); err != nil || payload.Type != "user.updated" || payload.Data["user_id"] != float64(a.userID("ada@example.com")) {
		t.Errorf("payload %s: %v", first.body, err)
	}

	// Listed, delivered; resent under the same webhook-id.
	var ds oapi.WebhookDeliveryList
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds = decode[oapi.WebhookDeliveryList](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID+"/deliveries", "", admin...), 200, "deliveries"))
		if len(ds.Deliveries) == 1 && ds.Deliveries[0].State == oapi.Delivered || time.Now().After(deadline) {
			break
		}
	}
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].WebhookID != first.header.Get(webhooks.HeaderID) || ds.Deliveries[0].Attempts != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	failed := decode[oapi.WebhookDeliveryList](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID+"/deliveries?state=failed", "", admin...), 200, "failed"))
	if len(failed.Deliveries) != 0 {
		t.Errorf("failed deliveries %+v", failed)
	}
	d := strconv.FormatInt(ds.Deliveries[0].ID, 10)
	a.clock.Add(30 * time.Second) // a resend is signed when it is sent
	a.status(a.do("POST", "/admin/webhooks/"+ep.ID+"/deliveries/"+d+"/resend", "", admin...), 202, "resend")
	a.status(a.do("POST", "/admin/webhooks/"+ep.ID+"/deliveries/999999/resend", "", admin...), 404, "resend a missing one")
	again := r.wait(t, 2)
	if again.header.Get(webhooks.HeaderID) != first.header.Get(webhooks.HeaderID) || string(again.body) != string(first.body) {
		t.Errorf("resent %q %s, want the first's id and body", again.header.Get(webhooks.HeaderID), again.body)
	}
	signedBy(t, again, created.Secret)
	ts1, _ := strconv.ParseInt(first.header.Get(webhooks.HeaderTimestamp), 10, 64)
	ts2, _ := strconv.ParseInt(again.header.Get(webhooks.HeaderTimestamp), 10, 64)
	if ts2 < ts1+29 || again.header.Get(webhooks.HeaderSignature) == first.header.Get(webhooks.HeaderSignature) {
		t.Errorf("resent at webhook-timestamp %d signed %s; first at %d signed %s: want a new timestamp (30 s on) and signature",
			ts2, again.header.Get(webhooks.HeaderSignature), ts1, first.header.Get(webhooks.HeaderSignature))
	}

	// A rotation: both secrets sign.
	rotated := decode[oapi.WebhookSecret](t, a.status(a.do("POST", "/admin/webhooks/"+ep.ID+"/rotate", "", admin...), 200, "rotate"))
	if rotated.PreviousUntil == nil || rotated.Secret == created.Secret {
		t.Fatalf("rotated %+v", rotated)
	}
	a.status(a.do("PATCH", "/profile", `{"user_metadata": {"plan": "team"}}`, bearer(ada)...), 200, "PATCH /profile")
	signedBy(t, r.wait(t, 3), rotated.Secret, created.Secret)

	// Disabled: nothing is sent; PATCH checks its URL as registration does.
	a.status(a.do("PATCH", "/admin/webhooks/"+ep.ID, `{"url": "ftp://x"}`, admin...), 400, "a bad URL")
	got := decode[oapi.WebhookEndpoint](t, a.status(a.do("PATCH", "/admin/webhooks/"+ep.ID, `{"enabled": false, "events": ["user.updated"]}`, admin...), 200, "disable"))
	if got.Enabled || got.DisabledReason == nil || *got.DisabledReason != "admin" || len(got.Events) != 1 {
		t.Errorf("disabled %+v", got)
	}
	a.status(a.do("PATCH", "/profile", `{"user_metadata": {"plan": "free"}}`, bearer(ada)...), 200, "PATCH /profile")
	time.Sleep(300 * time.Millisecond)
	r.mu.Lock()
	n := len(r.reqs)
	r.mu.Unlock()
	if n != 3 {
		t.Errorf("%d deliveries with the endpoint disabled, want 3", n)
	}
	a.status(a.do("DELETE", "/admin/webhooks/"+ep.ID, "", bearer(ada)...), 403, "a user deletes")
	a.status(a.do("DELETE", "/admin/webhooks/"+ep.ID, "", admin...), 204, "delete")
	a.status(a.do("GET", "/admin/webhooks/"+ep.ID, "", admin...), 404, "get a deleted one")
}

// TestAdminWebhooksRefusePrivate: without WEBHOOKS_ALLOW_PRIVATE, http and
// non-public literal addresses are refused at registration, and a refused
// registration stores nothing (and so sends nothing).
func TestAdminWebhooksRefusePrivate(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	pair, _ := a.adminAccount("root@example.com")
	admin := bearer(pair.Token)
	for _, url := range []string{"http://app.example/h", "https://127.0.0.1/h", "https://[::ffff:10.0.0.1]/h", "https://localhost/h", "https://169.254.169.254/"} {
		a.status(a.do("POST", "/admin/webhooks", `{"url": "`+url+`", "events": ["user.updated"]}`, admin...), 400, url)
	}
	list := decode[oapi.WebhookEndpointList](t, a.status(a.do("GET", "/admin/webhooks", "", admin...), 200, "list"))
	if len(list.Endpoints) != 0 {
		t.Errorf("refused registrations stored %+v", list.Endpoints)
	}
	a.status(a.do("POST", "/admin/webhooks", `{"url": "https://app.example/h", "events": ["user.updated"]}`, admin...), 201, "a public https URL")
}

// TestWebhookRefusedRegistrationSendsNothing: registrations the server
// refuses (an address taken, in another case too; a password too short, or
// over bcrypt's 72 bytes, which only the handler sees; an address
// malformed) record no user.created and queue no delivery: the endpoint
// gets the one registration that succeeded, once.
func TestWebhookRefusedRegistrationSendsNothing(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.WebhooksAllowPrivate = true })
	a.startJobs()
	pair, _ := a.adminAccount("root@example.com")
	admin := bearer(pair.Token)
	a.mustRegisterUnverified("ada@example.com", "password123")
	r := newHookReceiver(t)
	ep := decode[oapi.WebhookEndpointCreated](t, a.status(a.do("POST", "/admin/webhooks",
		`{"url": "`+r.URL+`", "events": ["user.created"]}`, admin...), 201, "create")).Endpoint

	for _, tc := range []struct {
		what, email, password string
		status                int
	}{
		{"an address taken", "ada@example.com", "password456", http.StatusConflict},
		{"an address taken, in capitals", "Ada@Example.COM", "password456", http.StatusConflict},
		{"a password too short", "bob@example.com", "short", http.StatusBadRequest},
		{"a password over 72 bytes", "bob@example.com", strings.Repeat("é", 40), http.StatusBadRequest},
		{"an address malformed", "bob@", "password123", http.StatusBadRequest},
	} {
		a.status(a.do("POST", "/register", credentials(tc.email, tc.password)), tc.status, tc.what)
	}
	bob := a.mustRegisterUnverified("bob@example.com", "password123")

	got := r.wait(t, 1)
	if payload, err := got.payload(); err != nil || payload.Type != "user.created" || payload.Data["user_id"] != float64(bob.ID) {
		t.Errorf("the delivery %s (%v), want bob's user.created", got.body, err)
	}
	if created := a.eventsOf("user.created"); len(created) != 3 {
		t.Errorf("user.created recorded:\n%s\nwant root's, ada's and bob's", strings.Join(created, "\n"))
	}
	time.Sleep(300 * time.Millisecond) // what a refused registration queued would be sent by now
	ds := decode[oapi.WebhookDeliveryList](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID+"/deliveries", "", admin...), 200, "deliveries"))
	r.mu.Lock()
	n := len(r.reqs)
	r.mu.Unlock()
	if n != 1 || len(ds.Deliveries) != 1 {
		t.Errorf("%d requests, %d deliveries stored; want the one registration that succeeded", n, len(ds.Deliveries))
	}
}

// TestWebhookSessionEndedWhy: each way a session ends reaches an endpoint
// of session.ended, saying why: logout, reuse (a spent refresh token
// again), password (a change ends all but the session that made it:
// except), reset (all), admin (an admin's logout, and an admin's reset of
// the second factor: all) and ban (all). Each delivery is listed as a
// WebhookSessionEnded of the spec (the listing is checked against it).
func TestWebhookSessionEndedWhy(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.WebhooksAllowPrivate = true })
	a.startJobs()
	root, _ := a.adminAccount("root@example.com")
	admin := bearer(root.Token)
	a.mustRegister("ada@example.com", "password123")
	adaID := a.userID("ada@example.com")
	r := newHookReceiver(t)
	ep := decode[oapi.WebhookEndpointCreated](t, a.status(a.do("POST", "/admin/webhooks",
		`{"url": "`+r.URL+`", "events": ["session.ended"]}`, admin...), 201, "create")).Endpoint

	a.status(a.do("POST", "/logout", "", bearer(a.mustLogin("ada@example.com", "password123"))...), 204, "logout")
	pair := a.mustLoginPair("ada@example.com", "password123")
	a.status(a.refresh(pair.RefreshToken), 200, "refresh")
	a.status(a.refresh(pair.RefreshToken), 401, "the spent refresh token again")
	changer := a.mustLogin("ada@example.com", "password123")
	a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"), bearer(changer)...), 204, "change")
	reset := token.NewSessionID()
	if err := a.store.CreateOneTimeToken(context.Background(), db.OneTimeToken{Hash: db.HashToken(reset), UserID: adaID,
		Purpose: db.PurposeResetPassword, Email: "ada@example.com", ExpiresAt: a.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "password789")), 204, "reset")
	ada := "/admin/users/" + strconv.FormatInt(adaID, 10)
	a.status(a.do("POST", ada+"/logout", "", admin...), 204, "an admin's logout")
	// A factor begun, for the reset to remove (a reset of nothing ends no
	// session).
	a.status(a.do("POST", "/mfa/totp", "", bearer(a.mustLogin("ada@example.com", "password789"))...), 201, "enrol")
	a.status(a.do("DELETE", ada+"/mfa", "", admin...), 200, "an admin's reset of the second factor")
	a.mustLogin("ada@example.com", "password789") // a session for the ban to end
	a.status(a.do("POST", ada+"/ban", `{"reason": "spam"}`, admin...), 200, "ban")

	want := map[string]map[string]any{
		"logout":   {},
		"reuse":    {},
		"password": {"all": true, "except": a.sessionOf(changer)},
		"reset":    {"all": true},
		"admin":    {"all": true},
		"ban":      {"all": true},
	}
	times := map[string]int{"admin": 2} // the logout and the reset of the factors; one of each other
	total := len(want) + 1
	r.wait(t, total)
	r.mu.Lock()
	reqs := append([]hookRequest(nil), r.reqs...)
	r.mu.Unlock()
	seen := map[string]int{}
	for _, req := range reqs {
		p, err := req.payload()
		if err != nil || p.Type != "session.ended" || p.Data["user_id"] != float64(adaID) {
			t.Errorf("delivery %s: %v", req.body, err)
			continue
		}
		why, _ := p.Data["why"].(string)
		fields, ok := want[why]
		seen[why]++
		if !ok || seen[why] > max(times[why], 1) {
			t.Errorf("delivery %s: why %q unexpected or once too often", req.body, why)
			continue
		}
		for k, v := range fields {
			if p.Data[k] != v {
				t.Errorf("why %s: %s is %v, want %v (%s)", why, k, p.Data[k], v, req.body)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("whys delivered %v, want each of %v", seen, want)
	}
	ds := decode[oapi.WebhookDeliveryList](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID+"/deliveries", "", admin...), 200, "deliveries"))
	if len(ds.Deliveries) != total {
		t.Errorf("%d deliveries listed, want %d", len(ds.Deliveries), total)
	}
}

// TestAdminWebhookFailedResent: a delivery to a failing receiver fails
// once an admin disables its endpoint; it is listed with ?state=failed
// (its last status and error), and once the receiver is fixed and the
// endpoint enabled, a resend delivers it under the webhook-id of the
// failed attempts, the same body, and moves it to delivered (resends 1).
func TestAdminWebhookFailedResent(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.WebhooksAllowPrivate = true })
	a.startJobs()
	root, _ := a.adminAccount("root@example.com")
	admin := bearer(root.Token)
	var broken atomic.Bool
	broken.Store(true)
	var mu sync.Mutex
	var got []hookRequest
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		got = append(got, hookRequest{req.Header.Clone(), body})
		mu.Unlock()
		if broken.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	requests := func() []hookRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]hookRequest(nil), got...)
	}
	ep := decode[oapi.WebhookEndpointCreated](t, a.status(a.do("POST", "/admin/webhooks",
		`{"url": "`+recv.URL+`", "events": ["user.created"]}`, admin...), 201, "create")).Endpoint
	deliveries := func(state string) []oapi.WebhookDelivery {
		return decode[oapi.WebhookDeliveryList](t, a.status(a.do("GET", "/admin/webhooks/"+ep.ID+"/deliveries?state="+state, "", admin...), 200, state)).Deliveries
	}

	a.mustRegisterUnverified("ada@example.com", "password123")
	waitUntil(t, 10*time.Second, "two failed attempts", func() bool { return len(requests()) >= 2 })
	a.status(a.do("PATCH", "/admin/webhooks/"+ep.ID, `{"enabled": false}`, admin...), 200, "disable")
	var failed []oapi.WebhookDelivery
	waitUntil(t, 10*time.Second, "the delivery failed", func() bool { failed = deliveries("failed"); return len(failed) == 1 })
	if d := failed[0]; d.Type != "user.created" || d.Attempts < 2 || d.LastStatus == nil || *d.LastStatus != 500 || d.LastError == nil {
		t.Errorf("the failed delivery %+v", d)
	}
	failedID := requests()[0].header.Get(webhooks.HeaderID)

	d := strconv.FormatInt(failed[0].ID, 10)
	resend := "/admin/webhooks/" + ep.ID + "/deliveries/" + d + "/resend"
	// To a disabled endpoint nothing would be sent: refused, unchanged.
	wantProblem(t, a.do("POST", resend, "", admin...), 409, "", "a resend to a disabled endpoint")
	if f := deliveries("failed"); len(f) != 1 || f[0].Resends != 0 {
		t.Errorf("after a refused resend: %+v", f)
	}

	// A resend while the first is pending is refused: twenty at once
	// queue one (each used to queue a job, and the receiver got the event
	// once per resend).
	a.status(a.do("PATCH", "/admin/webhooks/"+ep.ID, `{"enabled": true}`, admin...), 200, "enable")
	codes := make(chan int, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { codes <- a.do("POST", resend, "", admin...).Code })
	}
	wg.Wait()
	close(codes)
	queued := 0
	for c := range codes {
		switch c {
		case 202:
			queued++
		case 409:
		default:
			t.Errorf("a resend at once: %d", c)
		}
	}
	if queued != 1 {
		t.Errorf("%d of 20 resends at once queued, want 1", queued)
	}
	broken.Store(false)
	var delivered []oapi.WebhookDelivery
	waitUntil(t, 10*time.Second, "the resend delivered", func() bool { delivered = deliveries("delivered"); return len(delivered) == 1 })
	if delivered[0].ID != failed[0].ID || delivered[0].Resends != 1 || len(deliveries("failed")) != 0 {
		t.Errorf("after the resend: delivered %+v", delivered)
	}
	all := requests()
	last := all[len(all)-1]
	if last.header.Get(webhooks.HeaderID) != failedID || string(last.body) != string(all[0].body) {
		t.Errorf("resent as %q %s, want the failed attempts' %q %s", last.header.Get(webhooks.HeaderID), last.body, failedID, all[0].body)
	}
}

// waitUntil polls cond until it holds, or fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
	}
}
