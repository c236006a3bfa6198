package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/testutil"
)

// TestOwnerNotified: adding or removing a passkey, a provider account or
// the TOTP factor, a new set of recovery codes, a password change and a
// reset each mail the owner what happened and when, and what to do if it
// was not them (never a secret), and log it at info with the account's id.
// The mail is fed by the change's event: both are written in the
// transaction of the change: each change is first tried with a job engine
// that inserts the mail and then fails, and answers 500 with nothing of it
// kept, neither the change nor its event nor its mail (a mail queued after
// the commit would leave the change made, or the mail sent); and each mail
// job carries the id of its event, one record.
func TestOwnerNotified(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()
	failing := &atomic.Pointer[string]{}
	a.srv.UseJobs(failingNotice{Jobs: a.jobs, event: failing})
	ada := a.mustRegister("ada@example.com", "password123")
	tok, refresh := a.mustLogin("ada@example.com", "password123"), ""
	var secret, link string // the factor's; the reset's
	a.user("ada-at-corp", "ada@corp.example", false)
	steps := []struct {
		event, subject string
		// change makes the change and returns the answer to the request
		// that made it; want is its status when it succeeds, then (when
		// not nil) reads it.
		change func(a *oauthAPI) *httptest.ResponseRecorder
		want   int
		then   func(a *oauthAPI, rec *httptest.ResponseRecorder)
	}{
		{db.EventPasskeyAdded, "A passkey was added", func(a *oauthAPI) *httptest.ResponseRecorder {
			return a.registerPasskeyAs(tok, newDevice(), testRP)
		}, 201, nil},
		{db.EventPasskeyRemoved, "A passkey was removed", func(a *oauthAPI) *httptest.ResponseRecorder {
			list := decode[[]oapi.Passkey](a.t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))
			return a.do("DELETE", "/passkeys/"+list[0].ID, "", bearer(tok)...)
		}, 204, nil},
		{db.EventIdentityLinked, "A sign-in provider was linked", func(a *oauthAPI) *httptest.ResponseRecorder {
			c := newApp()
			return a.exchange(a.code(a.link(tok, "corp", "ada-at-corp", c)), c.verifier)
		}, 200, nil},
		{db.EventIdentityUnlinked, "A sign-in provider was unlinked", func(a *oauthAPI) *httptest.ResponseRecorder {
			ids := a.identities(tok)
			return a.do("DELETE", fmt.Sprint("/profile/identities/", ids[0].ID), "", bearer(tok)...)
		}, 204, nil},
		{db.EventMFAFactorAdded, "A second factor was added", func(a *oauthAPI) *httptest.ResponseRecorder {
			e := a.enroll(tok)
			secret = e.Secret
			return a.verifyFactor(tok, e.ID, codeAt(a.t, e.Secret, a.clock.Now()))
		}, 200, func(a *oauthAPI, rec *httptest.ResponseRecorder) {
			v := decode[oapi.FactorVerified](a.t, rec)
			tok, refresh = v.Tokens.Token, v.Tokens.RefreshToken
		}},
		{db.EventMFARecoveryCodesRegenerated, "New recovery codes", func(a *oauthAPI) *httptest.ResponseRecorder {
			return a.do("POST", "/mfa/recovery-codes", "", bearer(tok)...)
		}, 200, nil},
		{db.EventMFAFactorRemoved, "A second factor was removed", func(a *oauthAPI) *httptest.ResponseRecorder {
			a.clock.Add(30 * time.Second) // a code of a step not taken yet
			fs := decode[[]oapi.Factor](a.t, a.status(a.do("GET", "/mfa/factors", "", bearer(tok)...), 200, "GET /mfa/factors"))
			return a.do("DELETE", "/mfa/factors/"+fs[0].ID, jsonBody("code", codeAt(a.t, secret, a.clock.Now())), bearer(tok)...)
		}, 204, func(a *oauthAPI, _ *httptest.ResponseRecorder) {
			// The session is lowered: its tokens of before are refused, a refresh gives new ones.
			tok = decode[oapi.Token](a.t, a.status(a.refresh(refresh), 200, "refresh")).Token
		}},
		{db.EventPasswordChanged, "Your password was changed", func(a *oauthAPI) *httptest.ResponseRecorder {
			return a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"), bearer(tok)...)
		}, 204, nil},
		{db.EventPasswordReset, "Your password was reset", func(a *oauthAPI) *httptest.ResponseRecorder {
			if link == "" { // a rolled-back reset has not spent it
				a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot")
				link = a.waitEmail("ada@example.com", "Reset your password", 0)
			}
			return a.do("POST", "/password/reset", jsonBody("token", link, "new_password", "password789"))
		}, 204, nil},
	}
	for _, step := range steps {
		t.Run(step.event, func(t *testing.T) {
			a := a.forInput(t)
			before := a.holdings(ada.ID)
			eventsBefore := len(a.events(ada.ID))
			failing.Store(&step.event)
			a.broken = true
			a.status(step.change(a), http.StatusInternalServerError, "the change, its mail failing")
			a.broken = false
			failing.Store(nil)
			if after := a.holdings(ada.ID); after != before {
				t.Errorf("after a change whose mail failed the account holds\n%s\nwant it as before\n%s", after, before)
			}
			if n := len(a.events(ada.ID)); n != eventsBefore {
				t.Errorf("%d events after a change rolled back, want %d as before", n, eventsBefore)
			}
			rec := a.status(step.change(a), step.want, "the change")
			if step.then != nil {
				step.then(a, rec)
			}
			text := a.waitMail("ada@example.com", step.subject)
			if !strings.Contains(text, "On ") || !strings.Contains(text, " UTC, ") || !strings.Contains(text, "If it was not") ||
				!strings.Contains(text, "reset your password") || strings.Contains(text, "token") {
				t.Errorf("the email says %q: want what happened and when, what to do if it was not the owner, and no token", text)
			}
			if !a.logged("INFO", step.event, ada.ID) {
				t.Errorf("no info line naming the account for %s", step.event)
			}
			if e := a.lastEvent(ada.ID, step.event); e.Actor != db.ActorUser(ada.ID) && step.event != db.EventPasswordReset {
				t.Errorf("%s by %q, want the user", step.event, e.Actor)
			}
		})
	}
	if rec := a.do("GET", "/profile", "", bearer(tok)...); rec.Code != http.StatusUnauthorized {
		t.Errorf("after the reset: %d, want 401", rec.Code)
	}
	// One mail for each change: none queued by the changes rolled back.
	var queued int
	if err := a.db.raw.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'notify'`).Scan(&queued); err != nil || queued != len(steps) {
		t.Errorf("%d notify jobs (%v), want %d", queued, err, len(steps))
	}
	// Each mail names its event: one record feeds both.
	events := map[int64]db.Event{}
	for _, e := range a.events(ada.ID) {
		events[e.ID] = e
	}
	argsText := "json(args)" // River's SQLite keeps them as JSONB
	if testutil.OnPostgres() {
		argsText = "args::text"
	}
	rows, err := a.db.raw.Query(`SELECT ` + argsText + ` FROM river_job WHERE kind = 'notify'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var args []byte
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		var job struct {
			UserID  int64  `json:"user_id"`
			Event   string `json:"event"`
			EventID int64  `json:"event_id"`
		}
		if err := json.Unmarshal(args, &job); err != nil {
			t.Fatal(err)
		}
		if e, ok := events[job.EventID]; !ok || e.Type != job.Event || e.UserID != job.UserID {
			t.Errorf("mail job %s: its event %d is %+v, want one of its type about its user", args, job.EventID, e)
		}
	}
}

// failingNotice is a job engine whose NotifyTx, for the event it is set
// to, inserts the mail and then fails, as a database that breaks after the
// insert would.
type failingNotice struct {
	Jobs
	event *atomic.Pointer[string]
}

func (j failingNotice) NotifyTx(ctx context.Context, tx *sql.Tx, eventID int64, ev db.Event) error {
	if err := j.Jobs.NotifyTx(ctx, tx, eventID, ev); err != nil {
		return err
	}
	if e := j.event.Load(); e != nil && *e == ev.Type {
		return errors.New("the job engine broke after the insert")
	}
	return nil
}

// holdings is what the account holds, as its database says: its password
// hash, passkeys, identities, verified factors and recovery codes.
func (a *testAPI) holdings(userID int64) string {
	a.t.Helper()
	var out strings.Builder
	for _, q := range []string{
		"SELECT password_hash FROM users WHERE id = %d",
		"SELECT id FROM passkeys WHERE user_id = %d ORDER BY id",
		"SELECT subject FROM identities WHERE user_id = %d ORDER BY subject",
		"SELECT id FROM mfa_factors WHERE user_id = %d AND verified ORDER BY id",
		"SELECT hash FROM mfa_recovery_codes WHERE user_id = %d ORDER BY hash",
	} {
		rows, err := a.db.raw.Query(fmt.Sprintf(q, userID))
		if err != nil {
			a.t.Fatal(err)
		}
		var col []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				a.t.Fatal(err)
			}
			col = append(col, v)
		}
		if err := rows.Close(); err != nil {
			a.t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s: %q\n", strings.Fields(q)[1:4], col)
	}
	return out.String()
}
