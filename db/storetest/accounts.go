package storetest

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's account half: every Store method over users, sessions and
// one-time tokens, with the error each returns for what is missing.

// users' errors: each lookup of an account that is not there names it.
func missingUser(t *testing.T, s db.Store) {
	u := mustCreate(t, s, "ada@example.com")
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(t.Context(), u.ID+1000); return err }},
		{"GetCredentials", func() error { _, err := s.GetCredentials(t.Context(), "nobody@example.com"); return err }},
		{"DeleteUser", func() error { return s.DeleteUser(t.Context(), u.ID+1000) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, db.ErrNoUser) {
				t.Errorf("%s of an unknown user: %v, want db.ErrNoUser", tt.name, err)
			}
		})
	}
}

// createUserAfter: after runs in CreateUser's transaction with the new
// user, and its error rolls the user back.
func createUserAfter(t *testing.T, s db.Store) {
	ctx := t.Context()
	var seen db.User
	u, err := s.CreateUser(ctx, "ada@example.com", "x", when, func(tx *sql.Tx, u db.User) error {
		seen = u
		// The transaction is live: a statement in it runs.
		var one int
		return tx.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil || seen != u {
		t.Fatalf("CreateUser with after: %+v, %v; after saw %+v", u, err, seen)
	}
	boom := errors.New("boom")
	if _, err := s.CreateUser(ctx, "bob@example.com", "x", when, func(*sql.Tx, db.User) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("CreateUser whose after fails: %v, want after's error", err)
	}
	if _, err := s.GetCredentials(ctx, "bob@example.com"); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("the rolled-back user: %v, want db.ErrNoUser", err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

// deleteUser takes the user's sessions and tokens along, once.
func deleteUser(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	token(t, s, "verify", sess.UserID, db.PurposeVerifyEmail, when.Add(time.Hour))
	other := session(t, s, "bob@example.com", "s2", when.Add(time.Hour))
	if err := s.DeleteUser(ctx, sess.UserID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, sess.UserID); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("GetUser after DeleteUser: %v, want db.ErrNoUser", err)
	}
	if _, err := s.GetSession(ctx, sess.ID); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("the user's session: %v, want db.ErrNoSession", err)
	}
	if err := s.VerifyEmail(ctx, "verify", sess.UserID, when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("the user's token: %v, want db.ErrNoToken", err)
	}
	if err := s.DeleteUser(ctx, sess.UserID); !errors.Is(err, db.ErrNoUser) {
		t.Errorf("DeleteUser again: %v, want db.ErrNoUser", err)
	}
	if _, err := s.GetSession(ctx, other.ID); err != nil {
		t.Errorf("another user's session: %v, want kept", err)
	}
}

// token stores a one-time token or fails the test.
func token(t *testing.T, s db.Store, hash string, userID int64, purpose string, expires time.Time) {
	t.Helper()
	u, err := s.GetUser(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOneTimeToken(t.Context(), db.OneTimeToken{Hash: hash, UserID: userID, Purpose: purpose, Email: u.Email, ExpiresAt: expires}); err != nil {
		t.Fatalf("CreateOneTimeToken(%s): %v", hash, err)
	}
}

// addSession stores another session of userID, created at created.
func addSession(t *testing.T, s db.Store, userID int64, id string, created time.Time) db.Session {
	t.Helper()
	sess := db.Session{ID: id, UserID: userID, CreatedAt: created, LastUsedAt: created, UserAgent: "agent " + id,
		Generation: 1, RefreshHash: "h-" + id, RotatedAt: created, RefreshExpiresAt: created.Add(time.Hour)}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%s): %v", id, err)
	}
	return sess
}

// sessionReads: a session reads back through each of its three lookups,
// and each names the session when it is not there or not the user's.
func sessionReads(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	u, err := s.GetUser(ctx, sess.UserID)
	if err != nil {
		t.Fatal(err)
	}
	bob := mustCreate(t, s, "bob@example.com")

	if got, err := s.GetSessionUser(ctx, sess.ID, u.ID); err != nil || got != u {
		t.Errorf("GetSessionUser = %+v, %v; want %+v", got, err, u)
	}
	if got, err := s.GetSessionCredentials(ctx, sess.ID, u.ID); err != nil || got != (db.Credentials{UserID: u.ID, PasswordHash: "x"}) {
		t.Errorf("GetSessionCredentials = %+v, %v", got, err)
	}
	want := db.Session{ID: sess.ID, UserID: u.ID, Generation: 1, RefreshHash: "h1",
		RotatedAt: db.Millis(when), RefreshExpiresAt: db.Millis(when.Add(time.Hour)), AAL: db.AAL1, AMR: "pwd",
		CreatedAt: db.Millis(when), LevelAt: db.Millis(when), AppMetadata: "{}"} // the account's, for its tokens' claims
	if got, err := s.GetSession(ctx, sess.ID); err != nil || got != want {
		t.Errorf("GetSession = %+v, %v; want %+v", got, err, want)
	}

	for _, tt := range []struct {
		name   string
		id     string
		userID int64
	}{
		{"unknown session", "nope", u.ID},
		{"another user's session", sess.ID, bob.ID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.GetSessionUser(ctx, tt.id, tt.userID); !errors.Is(err, db.ErrNoSession) {
				t.Errorf("GetSessionUser: %v, want db.ErrNoSession", err)
			}
			if _, err := s.GetSessionCredentials(ctx, tt.id, tt.userID); !errors.Is(err, db.ErrNoSession) {
				t.Errorf("GetSessionCredentials: %v, want db.ErrNoSession", err)
			}
		})
	}
	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("GetSession(unknown): %v, want db.ErrNoSession", err)
	}
}

// rotateRefresh: a rotation moves the session to the new hash and the next
// generation; the old hash, or an ended session, is ErrStale.
func rotateRefresh(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	now, expires := when.Add(time.Minute), when.Add(2*time.Hour)
	g, err := s.RotateRefresh(ctx, sess.ID, "h1", "h2", now, expires)
	if err != nil || g != 2 {
		t.Fatalf("RotateRefresh = %d, %v; want generation 2", g, err)
	}
	want := db.Session{ID: sess.ID, UserID: sess.UserID, Generation: 2, RefreshHash: "h2",
		RotatedAt: db.Millis(now), RefreshExpiresAt: db.Millis(expires), AAL: db.AAL1, AMR: "pwd",
		CreatedAt: db.Millis(when), LevelAt: db.Millis(when), AppMetadata: "{}"} // the account's, for its tokens' claims
	if got, err := s.GetSession(ctx, sess.ID); err != nil || got != want {
		t.Errorf("GetSession after rotation = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.RotateRefresh(ctx, sess.ID, "h1", "h3", now, expires); !errors.Is(err, db.ErrStale) {
		t.Errorf("rotating the old hash again: %v, want db.ErrStale", err)
	}
	if err := s.EndSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, sess.ID, "h2", "h3", now, expires); !errors.Is(err, db.ErrStale) {
		t.Errorf("rotating an ended session: %v, want db.ErrStale", err)
	}
}

// listSessions: the user's sessions, newest first, and nobody else's.
func listSessions(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	bob := mustCreate(t, s, "bob@example.com")
	if got, err := s.ListSessions(ctx, ada.ID); err != nil || len(got) != 0 {
		t.Errorf("ListSessions with none = %+v, %v; want empty", got, err)
	}
	older := addSession(t, s, ada.ID, "older", when)
	newer := addSession(t, s, ada.ID, "newer", when.Add(time.Minute))
	addSession(t, s, bob.ID, "bobs", when.Add(2*time.Minute))
	got, err := s.ListSessions(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []db.Session
	for _, x := range []db.Session{newer, older} {
		want = append(want, db.Session{ID: x.ID, UserID: ada.ID, CreatedAt: db.Millis(x.CreatedAt), LastUsedAt: db.Millis(x.LastUsedAt),
			UserAgent: x.UserAgent, RefreshExpiresAt: db.Millis(x.RefreshExpiresAt), AAL: db.AAL1, AMR: "pwd"})
	}
	if len(got) != len(want) {
		t.Fatalf("ListSessions = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ListSessions[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// sessionIDs lists the user's session ids, newest first.
func sessionIDs(t *testing.T, s db.Store, userID int64) []string {
	t.Helper()
	list, err := s.ListSessions(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// endingSessions: DeleteSession ends the user's own session only,
// EndSession ends anyone's and is quiet about one already gone, and
// DeleteSessions ends all of a user's but keep.
func endingSessions(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	bob := mustCreate(t, s, "bob@example.com")
	for i, id := range []string{"a1", "a2", "a3", "a4"} {
		addSession(t, s, ada.ID, id, when.Add(time.Duration(i)*time.Minute))
	}
	addSession(t, s, bob.ID, "b1", when)

	t.Run("DeleteSession", func(t *testing.T) {
		if err := s.DeleteSession(ctx, ada.ID, "a1"); err != nil {
			t.Errorf("DeleteSession(own): %v", err)
		}
		for _, tt := range []struct {
			name   string
			userID int64
			id     string
		}{
			{"already ended", ada.ID, "a1"},
			{"another user's", ada.ID, "b1"},
			{"unknown", ada.ID, "nope"},
		} {
			if err := s.DeleteSession(ctx, tt.userID, tt.id); !errors.Is(err, db.ErrNoSession) {
				t.Errorf("DeleteSession(%s): %v, want db.ErrNoSession", tt.name, err)
			}
		}
		if ids := sessionIDs(t, s, bob.ID); !equal(ids, []string{"b1"}) {
			t.Errorf("bob's sessions = %q, want [b1]: another user cannot end them", ids)
		}
	})
	t.Run("EndSession", func(t *testing.T) {
		if err := s.EndSession(ctx, "a2"); err != nil {
			t.Errorf("EndSession: %v", err)
		}
		if err := s.EndSession(ctx, "a2"); err != nil {
			t.Errorf("EndSession of a session already gone: %v, want nil", err)
		}
		if ids := sessionIDs(t, s, ada.ID); !equal(ids, []string{"a4", "a3"}) {
			t.Errorf("ada's sessions = %q, want [a4 a3]", ids)
		}
	})
	t.Run("DeleteSessions", func(t *testing.T) {
		if err := s.DeleteSessions(ctx, ada.ID, "a3"); err != nil {
			t.Errorf("DeleteSessions(keep a3): %v", err)
		}
		if ids := sessionIDs(t, s, ada.ID); !equal(ids, []string{"a3"}) {
			t.Errorf("ada's sessions = %q, want [a3]", ids)
		}
		if err := s.DeleteSessions(ctx, ada.ID, ""); err != nil {
			t.Errorf("DeleteSessions(keep none): %v", err)
		}
		if ids := sessionIDs(t, s, ada.ID); len(ids) != 0 {
			t.Errorf("ada's sessions = %q, want none", ids)
		}
		if ids := sessionIDs(t, s, bob.ID); !equal(ids, []string{"b1"}) {
			t.Errorf("bob's sessions = %q, want [b1]", ids)
		}
	})
}

// changePassword stores the hash, ends the other sessions and voids reset
// links (not verification ones), all or nothing: a keep that has ended is
// ErrNoSession and changes nothing.
func changePassword(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	for i, id := range []string{"a1", "a2", "a3"} {
		addSession(t, s, ada.ID, id, when.Add(time.Duration(i)*time.Minute))
	}
	token(t, s, "reset", ada.ID, db.PurposeResetPassword, when.Add(time.Hour))
	token(t, s, "verify", ada.ID, db.PurposeVerifyEmail, when.Add(time.Hour))

	if err := s.ChangePassword(ctx, ada.ID, "new-hash", "a2", nil); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if c, err := s.GetCredentials(ctx, ada.Email); err != nil || c.PasswordHash != "new-hash" {
		t.Errorf("GetCredentials = %+v, %v; want the new hash", c, err)
	}
	if ids := sessionIDs(t, s, ada.ID); !equal(ids, []string{"a2"}) {
		t.Errorf("sessions = %q, want only the one kept", ids)
	}
	if _, err := s.ResetPassword(ctx, "reset", "other", when, nil); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("a reset link from before the change: %v, want db.ErrNoToken", err)
	}
	if err := s.VerifyEmail(ctx, "verify", ada.ID, when); err != nil {
		t.Errorf("a verification link from before the change: %v, want it to work", err)
	}

	t.Run("keep has ended", func(t *testing.T) {
		if err := s.ChangePassword(ctx, ada.ID, "newer-hash", "a1", nil); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("ChangePassword: %v, want db.ErrNoSession", err)
		}
		if c, _ := s.GetCredentials(ctx, ada.Email); c.PasswordHash != "new-hash" {
			t.Errorf("password hash %q after a refused change, want it unchanged", c.PasswordHash)
		}
		if ids := sessionIDs(t, s, ada.ID); !equal(ids, []string{"a2"}) {
			t.Errorf("sessions = %q after a refused change, want [a2]", ids)
		}
	})
	t.Run("keep none, unknown user", func(t *testing.T) {
		if err := s.ChangePassword(ctx, ada.ID+1000, "x", "", nil); !errors.Is(err, db.ErrNoUser) {
			t.Errorf("ChangePassword: %v, want db.ErrNoUser", err)
		}
	})
}

// verifyEmail spends a verification token once, before it expires, for
// the address it was sent to.
func verifyEmail(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	expires := when.Add(time.Hour)
	token(t, s, "good", ada.ID, db.PurposeVerifyEmail, expires)
	token(t, s, "expired", ada.ID, db.PurposeVerifyEmail, when)
	token(t, s, "reset", ada.ID, db.PurposeResetPassword, expires)

	for _, tt := range []struct{ name, hash string }{
		{"unknown", "nope"},
		{"expired (at now exactly)", "expired"},
		{"expired, tried again", "expired"},
		{"a reset token", "reset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := s.TokenCredentials(ctx, tt.hash, db.PurposeVerifyEmail, when); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("TokenCredentials = %+v, %v; want db.ErrNoToken", c, err)
			}
			if err := s.VerifyEmail(ctx, tt.hash, ada.ID, when); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("VerifyEmail: %v, want db.ErrNoToken", err)
			}
		})
	}
	// Another user's token is no token of ada's, and stays unspent.
	bob := mustCreate(t, s, "bob@example.com")
	if err := s.VerifyEmail(ctx, "good", bob.ID, when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("VerifyEmail for another user: %v, want db.ErrNoToken", err)
	}
	if u, _ := s.GetUser(ctx, ada.ID); u.EmailVerified {
		t.Fatal("verified by a token that failed")
	}
	// Reading the token's user spends nothing.
	for range 2 {
		if c, err := s.TokenCredentials(ctx, "good", db.PurposeVerifyEmail, when); err != nil || c.UserID != ada.ID || c.PasswordHash != "hash-of-ada@example.com" {
			t.Errorf("TokenCredentials = %+v, %v; want ada's id and hash", c, err)
		}
	}
	if err := s.VerifyEmail(ctx, "good", ada.ID, when); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if u, err := s.GetUser(ctx, ada.ID); err != nil || !u.EmailVerified {
		t.Errorf("GetUser after VerifyEmail = %+v, %v; want verified", u, err)
	}
	if c, err := s.TokenCredentials(ctx, "good", db.PurposeVerifyEmail, when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("TokenCredentials of a spent token = %+v, %v; want db.ErrNoToken", c, err)
	}
	if err := s.VerifyEmail(ctx, "good", ada.ID, when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("VerifyEmail twice: %v, want db.ErrNoToken", err)
	}

	t.Run("sent to another address", func(t *testing.T) {
		if err := s.CreateOneTimeToken(ctx, db.OneTimeToken{Hash: "old-address", UserID: bob.ID, Purpose: db.PurposeVerifyEmail,
			Email: "bob@old.example.com", ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyEmail(ctx, "old-address", bob.ID, when); err != nil {
			t.Errorf("VerifyEmail: %v", err)
		}
		if u, _ := s.GetUser(ctx, bob.ID); u.EmailVerified {
			t.Error("a token for another address verified the current one")
		}
	})
}

// resetPassword spends a reset token once, before it expires: the new hash
// is stored, every session ends and the other reset links are void.
func resetPassword(t *testing.T, s db.Store) {
	ctx := t.Context()
	ada := mustCreate(t, s, "ada@example.com")
	addSession(t, s, ada.ID, "a1", when)
	addSession(t, s, ada.ID, "a2", when)
	expires := when.Add(time.Hour)
	token(t, s, "good", ada.ID, db.PurposeResetPassword, expires)
	token(t, s, "other", ada.ID, db.PurposeResetPassword, expires)
	token(t, s, "expired", ada.ID, db.PurposeResetPassword, when)
	token(t, s, "verify", ada.ID, db.PurposeVerifyEmail, expires)

	for _, tt := range []struct{ name, hash string }{
		{"unknown", "nope"},
		{"expired (at now exactly)", "expired"},
		{"a verification token", "verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.ResetPassword(ctx, tt.hash, "bad", when, nil); !errors.Is(err, db.ErrNoToken) {
				t.Errorf("ResetPassword: %v, want db.ErrNoToken", err)
			}
		})
	}
	if c, _ := s.GetCredentials(ctx, ada.Email); c.PasswordHash != "hash-of-ada@example.com" {
		t.Fatalf("password hash %q after refused resets, want it unchanged", c.PasswordHash)
	}
	if id, err := s.ResetPassword(ctx, "good", "new-hash", when, nil); err != nil || id != ada.ID {
		t.Fatalf("ResetPassword = %d, %v; want the user, %d", id, err, ada.ID)
	}
	if c, err := s.GetCredentials(ctx, ada.Email); err != nil || c.PasswordHash != "new-hash" {
		t.Errorf("GetCredentials = %+v, %v; want the new hash", c, err)
	}
	if ids := sessionIDs(t, s, ada.ID); len(ids) != 0 {
		t.Errorf("sessions after a reset = %q, want none", ids)
	}
	for _, hash := range []string{"good", "other"} {
		if _, err := s.ResetPassword(ctx, hash, "again", when, nil); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("reset token %q after the reset: %v, want db.ErrNoToken", hash, err)
		}
	}
}

// closeStore: Close releases the database; nothing answers after it.
func closeStore(t *testing.T, s db.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}
