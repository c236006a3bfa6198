package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
)

// events lists the events about the user userID (0: all), newest first.
func (a *testAPI) events(userID int64) []db.Event {
	a.t.Helper()
	es, err := a.store.ListEvents(context.Background(), db.EventFilter{UserID: userID, Limit: 1000})
	if err != nil {
		a.t.Fatal(err)
	}
	return es
}

// lastEvent is the newest event of type typ about userID (0: of no user
// filter), or fails the test.
func (a *testAPI) lastEvent(userID int64, typ string) db.Event {
	a.t.Helper()
	for _, e := range a.events(userID) {
		if e.Type == typ {
			return e
		}
	}
	a.t.Fatalf("no %s event about user %d; events: %+v", typ, userID, a.events(0))
	return db.Event{}
}

// dataOf is an event's data as a map.
func dataOf(t *testing.T, e db.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event data %s: %v", e.Data, err)
	}
	return m
}

// TestEventsWritten: each flow of an account's own writes its event, with
// the request's address and User-Agent, the actor and the data
// docs/admin.md lists; a failed sign-in names no password.
func TestEventsWritten(t *testing.T) {
	t.Parallel()
	const ua = "events-test/1.0"
	hdr := []string{"User-Agent", ua}
	for _, tt := range []struct {
		name string
		// flow runs the flow for a fresh account email and returns the
		// account's id; the event of type typ about it must have actor
		// (with %d the id) and data holding want.
		flow  func(a *testAPI, email string) int64
		typ   string
		actor string
		want  map[string]any
	}{
		{"register", func(a *testAPI, email string) int64 {
			return decode[oapi.User](a.t, a.status(a.do("POST", "/register", credentials(email, "password123"), hdr...), 201, "register")).ID
		}, db.EventUserCreated, "user:%d", map[string]any{"method": "register"}},
		{"email verified", func(a *testAPI, email string) int64 {
			u := a.mustRegisterUnverified(email, "password123")
			tok := token.NewSessionID()
			if err := a.store.CreateOneTimeToken(context.Background(), db.OneTimeToken{Hash: db.HashToken(tok), UserID: u.ID,
				Purpose: db.PurposeVerifyEmail, Email: u.Email, ExpiresAt: a.clock.Now().Add(time.Hour)}); err != nil {
				a.t.Fatal(err)
			}
			a.status(a.do("POST", "/email/verify", jsonBody("token", tok, "password", "password123"), hdr...), 204, "verify")
			return u.ID
		}, db.EventUserEmailVerified, "user:%d", map[string]any{}},
		{"password sign-in", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.mustLoginPair(email, "password123", hdr...)
			return u.ID
		}, db.EventSignInSucceeded, "user:%d", map[string]any{"method": "password", "aal": "aal1"}},
		{"wrong password", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("POST", "/login", credentials(email, "wrong-password-42"), hdr...), 401, "wrong password")
			return u.ID
		}, db.EventSignInFailed, "anonymous", map[string]any{"method": "password", "reason": "wrong_password"}},
		{"unknown email", func(a *testAPI, email string) int64 {
			a.status(a.do("POST", "/login", credentials(email, "wrong-password-42"), hdr...), 401, "unknown email")
			return 0
		}, db.EventSignInFailed, "anonymous", map[string]any{"method": "password", "reason": "unknown_email"}},
		{"second factor", func(a *testAPI, email string) int64 {
			secret, _, _ := a.mfaAccount(email)
			a.clock.Add(time.Minute)
			tok := a.mustLogin(email, "password123")
			a.status(a.do("POST", "/mfa/verify", jsonBody("code", codeAt(a.t, secret, a.clock.Now())), append(bearer(tok), hdr...)...), 200, "verify")
			return a.lastEvent(0, db.EventUserCreated).UserID
		}, db.EventSignInSucceeded, "user:%d", map[string]any{"method": "totp", "aal": "aal2"}},
		{"recovery code", func(a *testAPI, email string) int64 {
			_, codes, _ := a.mfaAccount(email)
			tok := a.mustLogin(email, "password123")
			a.status(a.do("POST", "/mfa/verify", jsonBody("recovery_code", codes[0]), append(bearer(tok), hdr...)...), 200, "verify")
			return a.lastEvent(0, db.EventUserCreated).UserID
		}, db.EventSignInSucceeded, "user:%d", map[string]any{"method": "recovery", "aal": "aal2"}},
		{"wrong second factor code", func(a *testAPI, email string) int64 {
			a.mfaAccount(email)
			tok := a.mustLogin(email, "password123")
			a.status(a.do("POST", "/mfa/verify", jsonBody("code", "000000"), append(bearer(tok), hdr...)...), 400, "wrong code")
			return a.lastEvent(0, db.EventUserCreated).UserID
		}, db.EventSignInFailed, "user:%d", map[string]any{"method": "totp", "reason": "wrong_code"}},
		{"second factor locked", func(a *testAPI, email string) int64 {
			a.mfaAccount(email)
			tok := a.mustLogin(email, "password123")
			for i := range defaultMFAMaxFailures {
				if i > 0 && i%codesPerMinute == 0 {
					a.clock.Add(time.Minute) // past the minute's limit of wrong codes
				}
				a.status(a.do("POST", "/mfa/verify", jsonBody("code", "000000"), append(bearer(tok), hdr...)...), 400, "wrong code")
			}
			return a.lastEvent(0, db.EventUserCreated).UserID
		}, db.EventMFALocked, "user:%d", map[string]any{}},
		{"refresh token reused", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			pair := a.mustLoginPair(email, "password123")
			a.status(a.refresh(pair.RefreshToken), 200, "refresh")
			a.status(a.do("POST", "/token/refresh", jsonBody("refresh_token", pair.RefreshToken), hdr...), 401, "the spent token again")
			return u.ID
		}, db.EventSessionRefreshReused, "anonymous", map[string]any{"why": "reuse"}},
		{"logout", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("POST", "/logout", "", append(bearer(a.mustLogin(email, "password123")), hdr...)...), 204, "logout")
			return u.ID
		}, db.EventSessionEnded, "user:%d", map[string]any{"why": "logout"}},
		{"a session ended from another", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			other := a.mustLogin(email, "password123")
			tok := a.mustLogin(email, "password123")
			a.status(a.do("DELETE", "/sessions/"+a.sessionOf(other), "", append(bearer(tok), hdr...)...), 204, "end one")
			return u.ID
		}, db.EventSessionEnded, "user:%d", map[string]any{"why": "logout"}},
		{"every session ended", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("DELETE", "/sessions", "", append(bearer(a.mustLogin(email, "password123")), hdr...)...), 204, "end all")
			return u.ID
		}, db.EventSessionEnded, "user:%d", map[string]any{"why": "logout", "all": true}},
		{"password changed", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"),
				append(bearer(a.mustLogin(email, "password123")), hdr...)...), 204, "change")
			return u.ID
		}, db.EventPasswordChanged, "user:%d", map[string]any{}},
		{"password changed ends the others", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"),
				append(bearer(a.mustLogin(email, "password123")), hdr...)...), 204, "change")
			return u.ID
		}, db.EventSessionEnded, "user:%d", map[string]any{"why": "password", "all": true}},
		{"password reset ends them all", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			reset := token.NewSessionID()
			if err := a.store.CreateOneTimeToken(context.Background(), db.OneTimeToken{Hash: db.HashToken(reset), UserID: u.ID,
				Purpose: db.PurposeResetPassword, Email: email, ExpiresAt: a.clock.Now().Add(time.Hour)}); err != nil {
				a.t.Fatal(err)
			}
			a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "password456"), hdr...), 204, "reset")
			return u.ID
		}, db.EventSessionEnded, "user:%d", map[string]any{"why": "reset", "all": true}},
		{"account deleted", func(a *testAPI, email string) int64 {
			u := a.mustRegister(email, "password123")
			a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), append(bearer(a.mustLogin(email, "password123")), hdr...)...), 204, "delete")
			return u.ID
		}, db.EventUserDeleted, "user:%d", map[string]any{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAPI(t)
			email := strings.ReplaceAll(tt.name, " ", "-") + "@example.com"
			userID := tt.flow(a, email)
			e := a.lastEvent(userID, tt.typ)
			if userID == 0 && e.UserID != 0 {
				t.Errorf("event about user %d, want none", e.UserID)
			}
			actor := strings.Replace(tt.actor, "%d", fmtID(userID), 1)
			if e.Actor != actor {
				t.Errorf("actor %q, want %q", e.Actor, actor)
			}
			if e.IP != "192.0.2.1" || e.UserAgent != ua {
				t.Errorf("address %q and User-Agent %q, want the request's (192.0.2.1, %q)", e.IP, e.UserAgent, ua)
			}
			if d := a.clock.Now().Sub(e.CreatedAt); d < 0 || d > time.Second {
				t.Errorf("created at %v, want now (%v)", e.CreatedAt, a.clock.Now())
			}
			got := dataOf(t, e)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("data %s: %s is %v, want %v", e.Data, k, got[k], v)
				}
			}
			if strings.Contains(string(e.Data), "password1") || strings.Contains(string(e.Data), "wrong-password") {
				t.Errorf("data %s holds a password", e.Data)
			}
		})
	}
}

func fmtID(id int64) string { b, _ := json.Marshal(id); return string(b) }

// countingStore counts the reads GET /profile may make and every event
// written, however.
type countingStore struct {
	db.Store
	reads, events *atomic.Int64
}

func (s countingStore) GetSessionAccess(ctx context.Context, sessionID string, userID int64) (db.SessionAccess, error) {
	s.reads.Add(1)
	return s.Store.GetSessionAccess(ctx, sessionID, userID)
}

func (s countingStore) GetSessionUser(ctx context.Context, sessionID string, userID int64) (db.User, error) {
	s.reads.Add(1)
	return s.Store.GetSessionUser(ctx, sessionID, userID)
}

func (s countingStore) GetUser(ctx context.Context, id int64) (db.User, error) {
	s.reads.Add(1)
	return s.Store.GetUser(ctx, id)
}

func (s countingStore) RecordEvent(ctx context.Context, e db.Event) error {
	s.events.Add(1)
	return s.Store.RecordEvent(ctx, e)
}

func (s countingStore) RecordEventTx(ctx context.Context, tx *sql.Tx, e db.Event) error {
	s.events.Add(1)
	return s.Store.RecordEventTx(ctx, tx, e)
}

func (s countingStore) RecordEventTxID(ctx context.Context, tx *sql.Tx, e db.Event) (int64, error) {
	s.events.Add(1)
	return s.Store.RecordEventTxID(ctx, tx, e)
}

// TestGetProfileWritesNoEvent: writing events adds no round trip to GET
// /profile: it reads its session and user in the bearer check's one query
// and records nothing (the events table is as it was, no event method is
// called), while a sign-in, a change, records one.
func TestGetProfileWritesNoEvent(t *testing.T) {
	t.Parallel()
	var reads, events atomic.Int64
	a := buildTestAPI(t, testPasswords(), nil, func(d *Deps) {
		d.Store = countingStore{Store: d.Store, reads: &reads, events: &events}
	})
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	if events.Load() == 0 {
		t.Fatal("a registration and a sign-in recorded no event: the count does not count")
	}
	count := func() (n, last int64) {
		t.Helper()
		if err := a.db.raw.QueryRow(`SELECT count(*), coalesce(max(id), 0) FROM events`).Scan(&n, &last); err != nil {
			t.Fatal(err)
		}
		return n, last
	}
	n, last := count()
	reads.Store(0)
	events.Store(0)
	const gets = 20
	for range gets {
		a.status(a.do("GET", "/profile", "", append(bearer(tok), "User-Agent", "profile-reader")...), 200, "GET /profile")
	}
	if got := events.Load(); got != 0 {
		t.Errorf("%d GET /profile recorded %d events, want none", gets, got)
	}
	if got := reads.Load(); got != gets {
		t.Errorf("%d GET /profile made %d reads, want one each (the bearer check's)", gets, got)
	}
	if n2, last2 := count(); n2 != n || last2 != last {
		t.Errorf("events table: %d rows up to id %d after GET /profile, want %d up to %d as before", n2, last2, n, last)
	}
	// The generated strict handler applies its middlewares on every
	// request: for a read, the one that gathers an event's address and
	// User-Agent must hand the handler back as it is (no closure made).
	keep := keepRequestInfo(readsOf(a.srv.ops))
	handler := func(echo.Context, any) (any, error) { return nil, nil }
	for name, read := range map[string]bool{"GetProfile": true, "ListActivity": true, "ListSessions": true, "Login": false,
		"ChangePassword": false, "OauthCallback": false} {
		same := reflect.ValueOf(keep(handler, name)).Pointer() == reflect.ValueOf(handler).Pointer()
		if same != read {
			t.Errorf("%s: the handler handed back as it is: %v, want %v", name, same, read)
		}
	}
}

// activityPage gets one page of tok's activity.
func (a *testAPI) activityPage(tok, query string) oapi.ActivityPage {
	a.t.Helper()
	return decode[oapi.ActivityPage](a.t, a.status(a.do("GET", "/profile/activity"+query, "", bearer(tok)...), 200, "GET /profile/activity"))
}

// TestActivity: GET /profile/activity shows the caller's own events only,
// newest first, with who did each as a kind: an admin's action without the
// admin's id, address or User-Agent; a failed sign-in of someone not signed
// in with its address. It pages by an opaque cursor that never repeats an
// event while new ones are recorded, and refuses a cursor it did not give.
func TestActivity(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ada := a.mustRegister("ada@example.com", "password123")
	bob := a.mustRegister("bob@example.com", "password123")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "not-her-password")), 401, "a wrong password")
	a.mustLogin("bob@example.com", "password123")
	// What an admin did, as the admin operations record it.
	if err := a.store.RecordEvent(context.Background(), db.Event{Type: db.EventUserRoleChanged, CreatedAt: a.clock.Now(), UserID: ada.ID,
		Actor: db.ActorAdmin(987654), IP: "203.0.113.9", UserAgent: "admin-console", Data: json.RawMessage(`{"role":"user"}`)}); err != nil {
		t.Fatal(err)
	}
	tok := a.mustLogin("ada@example.com", "password123")

	rec := a.status(a.do("GET", "/profile/activity", "", bearer(tok)...), 200, "GET /profile/activity")
	if body := rec.Body.String(); strings.Contains(body, "987654") || strings.Contains(body, "203.0.113.9") || strings.Contains(body, "admin-console") {
		t.Errorf("the activity shows an admin's id, address or User-Agent: %s", body)
	}
	page := decode[oapi.ActivityPage](t, rec)
	var got []string
	for _, e := range page.Events {
		got = append(got, e.Type+"/"+string(e.Actor))
		if e.Actor == oapi.ActivityActorAnonymous && (e.IP == nil || *e.IP != "192.0.2.1") {
			t.Errorf("a failed sign-in without its address: %+v", e)
		}
		if e.Actor == oapi.ActivityActorAdmin && (e.IP != nil || e.UserAgent != nil) {
			t.Errorf("an admin's action with an address or User-Agent: %+v", e)
		}
	}
	want := []string{"signin.succeeded/user", "user.role_changed/admin", "signin.failed/anonymous", "user.created/user"}
	if strings.Join(got, " ") != strings.Join(want, " ") || page.NextCursor != nil {
		t.Errorf("ada's activity = %q (next %v), want %q on one page", got, page.NextCursor, want)
	}
	for _, e := range a.events(bob.ID) {
		for _, mine := range page.Events {
			if mine.ID == e.ID {
				t.Errorf("ada sees bob's event %+v", e)
			}
		}
	}

	t.Run("pages", func(t *testing.T) {
		a := a.in(t)
		pagesNeverRepeat(t, 2, func(query string) ([]int64, *string) {
			p := a.activityPage(tok, query)
			return activityIDs(p.Events), p.NextCursor
		}, func() { a.mustLogin("ada@example.com", "password123") })
	})
	t.Run("refusals", func(t *testing.T) {
		a := a.in(t)
		for _, q := range []string{"?cursor=bm90LWEtY3Vyc29y", "?cursor=%21%21", "?limit=0", "?limit=201", "?cursor=" + encodeCursor(0)} {
			a.status(a.do("GET", "/profile/activity"+q, "", bearer(tok)...), 400, "GET /profile/activity"+q)
		}
		a.status(a.do("GET", "/profile/activity", ""), 401, "without a token")
	})
}

// TestEventsProviderAndPasskey: a first provider sign-in writes the new
// account's user.created (method provider, from the callback's request)
// and the sign-in's signin.succeeded at the code's redemption; a passkey
// sign-in writes signin.succeeded (method passkey), and a passkey no
// account holds a signin.failed about no account.
func TestEventsProviderAndPasskey(t *testing.T) {
	t.Parallel()
	t.Run("provider", func(t *testing.T) {
		t.Parallel()
		a := newOAuthAPI(t)
		a.user("grace", "grace@corp.example", true)
		tok := a.mustSignIn("grace")
		id := a.profile(tok.Token).ID
		created := a.lastEvent(id, db.EventUserCreated)
		if d := dataOf(t, created); d["method"] != "provider" || d["provider"] != "corp" || created.IP == "" || created.Actor != db.ActorUser(id) {
			t.Errorf("user.created = %+v (data %s), want method provider of corp, the callback's address, by the user", created, created.Data)
		}
		signIn := a.lastEvent(id, db.EventSignInSucceeded)
		if d := dataOf(t, signIn); d["method"] != "provider" || d["provider"] != "corp" || d["session"] != a.sessionOf(tok.Token) {
			t.Errorf("signin.succeeded data %s, want method provider of corp and the session", signIn.Data)
		}
	})
	t.Run("passkey", func(t *testing.T) {
		t.Parallel()
		a := newTestAPI(t)
		u := a.mustRegister("ada@example.com", "password123")
		d := newDevice()
		a.mustRegisterPasskey(a.mustLogin("ada@example.com", "password123"), d)
		tok := a.mustPasskeyLogin(d)
		if e := a.lastEvent(u.ID, db.EventSignInSucceeded); dataOf(t, e)["method"] != "passkey" || dataOf(t, e)["session"] != a.sessionOf(tok.Token) {
			t.Errorf("signin.succeeded data %s, want method passkey and the session", e.Data)
		}
		a.status(a.passkeyLoginAs(newDevice(), testRP), 401, "a passkey no account holds")
		if e := a.lastEvent(0, db.EventSignInFailed); e.UserID != 0 || e.Actor != db.ActorAnonymous || dataOf(t, e)["method"] != "passkey" {
			t.Errorf("signin.failed = %+v (data %s), want a passkey's about no account, anonymous", e, e.Data)
		}
	})
}

// auditPage gets one page of GET /admin/audit with query.
func (a *testAPI) auditPage(tok, query string) oapi.AuditPage {
	a.t.Helper()
	return decode[oapi.AuditPage](a.t, a.status(a.do("GET", "/admin/audit"+query, "", bearer(tok)...), 200, "GET /admin/audit"+query))
}

// TestAdminAudit: GET /admin/audit lists every event, whole, newest first;
// its filters (user, actor, type, since) select alone and together; its
// pages never repeat an event while new ones are recorded; a deleted
// user's events are still there; a non-admin is refused, as is a cursor
// keel did not give.
func TestAdminAudit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	ada := a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "not-her-password")), 401, "a wrong password")
	a.status(a.do("POST", "/login", credentials("nobody@example.com", "password123")), 401, "an unknown email")
	bob := a.mustLogin("bob@example.com", "password123")
	a.clock.Add(time.Minute)
	later := a.clock.Now()
	adaTok := a.mustLogin("ada@example.com", "password123")

	all := a.auditPage(root.Token, "?limit=200")
	if len(all.Events) != len(a.events(0)) || all.NextCursor != nil {
		t.Fatalf("the audit lists %d events (next %v), want all %d on one page", len(all.Events), all.NextCursor, len(a.events(0)))
	}
	for i, e := range all.Events {
		if i > 0 && e.ID >= all.Events[i-1].ID {
			t.Errorf("event %d after %d: want newest first", e.ID, all.Events[i-1].ID)
		}
	}
	types := func(p oapi.AuditPage) string {
		var out []string
		for _, e := range p.Events {
			who := "-"
			if e.UserID != nil {
				who = fmtID(*e.UserID)
			}
			out = append(out, e.Type+"/"+who+"/"+e.Actor)
		}
		return strings.Join(out, " ")
	}
	adaID := fmtID(ada.ID)
	for _, tt := range []struct{ query, want string }{
		{"?user=" + adaID, "signin.succeeded/" + adaID + "/user:" + adaID + " signin.failed/" + adaID + "/anonymous user.created/" + adaID + "/user:" + adaID},
		{"?actor=anonymous", "signin.failed/-/anonymous signin.failed/" + adaID + "/anonymous"},
		{"?type=signin.failed", "signin.failed/-/anonymous signin.failed/" + adaID + "/anonymous"},
		{"?type=signin.failed&user=" + adaID, "signin.failed/" + adaID + "/anonymous"},
		{"?actor=user:" + adaID + "&type=signin.succeeded", "signin.succeeded/" + adaID + "/user:" + adaID},
		{"?since=" + url.QueryEscape(later.UTC().Format(time.RFC3339Nano)), "signin.succeeded/" + adaID + "/user:" + adaID},
		{"?since=" + url.QueryEscape(later.Add(time.Hour).UTC().Format(time.RFC3339)), ""},
		{"?user=999999", ""},
	} {
		if got := types(a.auditPage(root.Token, tt.query)); got != tt.want {
			t.Errorf("GET /admin/audit%s:\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
	e := a.auditPage(root.Token, "?type=signin.succeeded&user="+adaID).Events[0]
	if e.IP != "192.0.2.1" || e.Data["method"] != "password" || e.Data["session"] != a.sessionOf(adaTok) {
		t.Errorf("an event whole: %+v, want its address and data", e)
	}

	t.Run("pages", func(t *testing.T) {
		a := a.in(t)
		pagesNeverRepeat(t, 3, func(query string) ([]int64, *string) {
			p := a.auditPage(root.Token, query)
			ids := make([]int64, len(p.Events))
			for i, e := range p.Events {
				ids[i] = e.ID
			}
			return ids, p.NextCursor
		}, func() { a.mustLogin("bob@example.com", "password123") })
	})
	t.Run("a deleted user's events stay", func(t *testing.T) {
		a := a.in(t)
		before := len(a.auditPage(root.Token, "?user="+adaID).Events)
		a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(adaTok)...), 204, "delete")
		after := a.auditPage(root.Token, "?user="+adaID)
		if len(after.Events) != before+1 || after.Events[0].Type != db.EventUserDeleted {
			t.Errorf("after the deletion: %s, want the %d events before and user.deleted", types(after), before)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		a := a.in(t)
		wantProblem(t, a.do("GET", "/admin/audit", "", bearer(bob)...), 403, adminRequiredType, "a user")
		wantProblem(t, a.do("GET", "/admin/audit", ""), 401, "", "no token")
		for _, q := range []string{"?cursor=bm90LWEtY3Vyc29y", "?limit=0", "?user=0", "?user=x", "?since=yesterday", "?actor="} {
			a.status(a.do("GET", "/admin/audit"+q, "", bearer(root.Token)...), 400, "GET /admin/audit"+q)
		}
	})
}

func activityIDs(es []oapi.Activity) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// pagesNeverRepeat walks a listing's pages of size (get answers a query
// with the page's ids and its next cursor), recording an event (record)
// after each: the pages hold every event there when the walk began, each
// once, and none recorded during it.
func pagesNeverRepeat(t *testing.T, size int, get func(query string) ([]int64, *string), record func()) {
	t.Helper()
	all, _ := get("?limit=200")
	seen := map[int64]bool{}
	query := fmt.Sprintf("?limit=%d", size)
	for pages := 0; ; pages++ {
		ids, next := get(query)
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("event %d on two pages", id)
			}
			seen[id] = true
		}
		record() // a new event, newer than every page
		if next == nil {
			break
		}
		if pages > len(all) {
			t.Fatal("the pages do not end")
		}
		query = fmt.Sprintf("?limit=%d&cursor=%s", size, *next)
	}
	for _, id := range all {
		if !seen[id] {
			t.Errorf("event %d, there when the listing began, on no page", id)
		}
	}
	if len(seen) != len(all) {
		t.Errorf("the pages held %d events, want the %d there when the listing began", len(seen), len(all))
	}
}
