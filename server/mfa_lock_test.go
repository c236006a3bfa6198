package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/password"
)

// Guessing a second factor: wrong codes are limited a minute and counted in
// a row in the database, a lock is lifted by a recovery code or the mailed
// link, and the owner hears of it.

// logged reports whether the log holds a record at level (INFO, WARN)
// whose message holds msg and whose user_id is userID.
func (a *testAPI) logged(level, msg string, userID int64) bool {
	for _, line := range strings.Split(a.logs.String(), "\n") {
		var rec struct {
			Level, Msg string
			UserID     int64 `json:"user_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == level && strings.Contains(rec.Msg, msg) && rec.UserID == userID {
			return true
		}
	}
	return false
}

// waitMail waits for the console mailer's first email to `to` whose subject
// holds subject, and returns its text.
func (a *testAPI) waitMail(to, subject string) string {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second) // as waitEmail's
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(a.logs.String(), "\n") {
			var rec struct{ Msg, To, Subject, Text string }
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "email") && rec.To == to && strings.Contains(rec.Subject, subject) {
				return rec.Text
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("no email %q to %s in the log:\n%s", subject, to, a.logs.String())
	return ""
}

// wantLocked checks a 403 whose problem type is mfa-locked.
func wantLocked(t *testing.T, rec *http.Response, body []byte, what string) {
	t.Helper()
	var p struct{ Type string }
	if rec.StatusCode != http.StatusForbidden || json.Unmarshal(body, &p) != nil || p.Type != mfaLockedType {
		t.Errorf("%s: %d %s, want 403 %s", what, rec.StatusCode, body, mfaLockedType)
	}
}

// guess sends n wrong codes for tok's session, a minute apart every five
// (the minute's limit is not what this counts), each refused with 400.
func (a *testAPI) guess(tok string, n int) {
	a.t.Helper()
	for i := range n {
		if i > 0 && i%codesPerMinute == 0 {
			a.clock.Add(time.Minute)
		}
		a.status(a.mfaVerify(tok, "code", "000000"), 400, fmt.Sprintf("wrong code %d", i+1))
	}
	a.clock.Add(time.Minute)
}

// TestMFALock: after MFA_MAX_FAILURES wrong TOTP codes in a row (counted
// in the database, so two servers on one database count together) the
// factor takes no TOTP code, not even the right one (403 mfa-locked); the
// owner is mailed an unlock link and keel logs the lock at warn. A recovery
// code unlocks it, as does the link (once); a right code ends a run of
// wrong ones.
func TestMFALock(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	// A second server on the same database: another replica.
	b := *a
	b.srv, b.jobs = newServer(t, testConfig(), a.db, a.srv.log, a.clock.Now, password.New(4, 1, 8))
	secret, codes, _ := a.mfaAccount("ada@example.com")
	ada := a.sessionUser(a.mustLogin("ada@example.com", "password123"))
	a.clock.Add(time.Minute)
	right := func() string { a.clock.Add(mfa.Period); return codeAt(t, secret, a.clock.Now()) }

	t.Run("a right code ends a run of wrong ones", func(t *testing.T) {
		a := a.in(t)
		tok := a.mustLogin("ada@example.com", "password123")
		a.guess(tok, defaultMFAMaxFailures-1)
		a.status(a.mfaVerify(tok, "code", right()), 200, "the right code after nine wrong ones")
		tok = a.mustLogin("ada@example.com", "password123")
		a.guess(tok, defaultMFAMaxFailures-1)
		a.status(a.mfaVerify(tok, "code", right()), 200, "nine more wrong ones, then the right code")
	})
	t.Run("counted on every server; locked; a recovery code unlocks", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		tok := a.mustLogin("ada@example.com", "password123")
		a.guess(tok, defaultMFAMaxFailures/2)
		b.guess(tok, defaultMFAMaxFailures/2)
		if !a.logged("WARN", "second factor locked", ada) {
			t.Error("no warn line naming the account for the lock")
		}
		for _, s := range []*testAPI{a, b} {
			rec := s.mfaVerify(tok, "code", right())
			wantLocked(t, rec.Result(), rec.Body.Bytes(), "the right code once locked")
		}
		text := a.waitMail("ada@example.com", "locked")
		if !strings.Contains(text, "/unlock-mfa?token=") || !strings.Contains(text, "If it was not you") {
			t.Errorf("the lock's email says %q; want the unlock link and what to do if it was not the owner", text)
		}
		a.status(a.mfaVerify(tok, "recovery_code", codes[0]), 200, "a recovery code while locked")
		tok = a.mustLogin("ada@example.com", "password123")
		a.status(a.mfaVerify(tok, "code", right()), 200, "a right code after the recovery code")
	})
	t.Run("the mailed link unlocks, once", func(t *testing.T) {
		a := a.in(t)
		tok := a.mustLogin("ada@example.com", "password123")
		a.guess(tok, defaultMFAMaxFailures)
		rec := a.mfaVerify(tok, "code", right())
		wantLocked(t, rec.Result(), rec.Body.Bytes(), "locked again")
		link := a.waitEmail("ada@example.com", "locked", 1)
		a.status(a.do("POST", "/mfa/unlock", jsonBody("token", "nope")), 400, "an unknown token")
		a.status(a.do("POST", "/mfa/unlock", jsonBody("token", link)), 204, "the mailed token")
		a.status(a.do("POST", "/mfa/unlock", jsonBody("token", link)), 400, "the mailed token again")
		a.status(a.mfaVerify(tok, "code", right()), 200, "a right code once unlocked")
		if !a.logged("INFO", "unlocked", ada) {
			t.Error("no info line naming the account for the unlock")
		}
	})
	t.Run("MFA_MAX_FAILURES=0 never locks", func(t *testing.T) {
		// cmd/keel hands the server -1 for it: a Config's 0 is the default.
		c := newTestAPI(t, func(c *Config) { c.MFAMaxFailures = -1 })
		secret, _, _ := c.mfaAccount("bob@example.com")
		c.clock.Add(time.Minute)
		tok := c.mustLogin("bob@example.com", "password123")
		c.guess(tok, 2*defaultMFAMaxFailures)
		c.status(c.mfaVerify(tok, "code", codeAt(t, secret, c.clock.Now())), 200, "the right code after twenty wrong ones")
	})
	t.Run("the lock's mail is queued with the count that locks", func(t *testing.T) {
		// A job engine that inserts the mail and then fails: the wrong
		// code that would lock answers 500, and neither its count nor the
		// mail is kept, so the factor still takes the right code.
		c := newTestAPI(t)
		failing := &atomic.Pointer[string]{}
		c.srv.UseJobs(failingNotice{Jobs: c.jobs, event: failing})
		secret, _, _ := c.mfaAccount("carol@example.com")
		c.clock.Add(time.Minute)
		tok := c.mustLogin("carol@example.com", "password123")
		c.guess(tok, defaultMFAMaxFailures-1)
		event := db.EventMFALocked
		failing.Store(&event)
		c.broken = true
		c.status(c.mfaVerify(tok, "code", "000000"), http.StatusInternalServerError, "the code that would lock, its mail failing")
		c.broken = false
		c.clock.Add(time.Minute)
		c.status(c.mfaVerify(tok, "code", codeAt(t, secret, c.clock.Now())), 200, "the right code: not locked")
		var queued int
		if err := c.db.raw.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'notify'`).Scan(&queued); err != nil || queued != 1 {
			t.Errorf("%d notify jobs (%v), want 1 (the factor's)", queued, err)
		}
	})
}

// in is the API for a subtest: its failures are the subtest's.
func (a *testAPI) in(t *testing.T) *testAPI {
	c := *a
	c.t = t
	return &c
}

// sessionUser is the id of the user whose token tok is.
func (a *testAPI) sessionUser(tok string) int64 {
	a.t.Helper()
	p, err := a.srv.tokens.Verify(tok)
	if err != nil {
		a.t.Fatal(err)
	}
	return p.UserID
}
