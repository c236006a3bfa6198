package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's second-factor half: every Store method over factors,
// recovery codes and sessions' assurance, on every engine.

// factor stores an unverified TOTP factor of userID or fails the test.
func factor(t *testing.T, s db.Store, userID int64, id string) db.Factor {
	t.Helper()
	f := db.Factor{ID: id, UserID: userID, Kind: db.FactorTOTP, Secret: []byte("sealed " + id),
		CreatedAt: when, ExpiresAt: when.Add(15 * time.Minute)}
	if err := s.CreateFactor(t.Context(), f); err != nil {
		t.Fatalf("CreateFactor(%s): %v", id, err)
	}
	return f
}

// upgradeOf raises sess (read afresh) to aal2 with refresh hash "up-<id>".
func upgradeOf(t *testing.T, s db.Store, sessionID string) db.Upgrade {
	t.Helper()
	sess, err := s.GetSession(t.Context(), sessionID)
	if err != nil {
		t.Fatal(err)
	}
	return db.Upgrade{SessionID: sess.ID, UserID: sess.UserID, Generation: sess.Generation,
		RefreshHash: "up-" + sess.ID, Now: when.Add(time.Minute), RefreshExpiresAt: when.Add(2 * time.Hour)}
}

func hashes(prefix string) []string {
	out := make([]string, 10)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// verified stores a verified factor for sess's user (step 100 accepted) and
// returns it; sess is then aal2.
func verified(t *testing.T, s db.Store, sess db.Session, id string) db.Factor {
	t.Helper()
	f := factor(t, s, sess.UserID, id)
	if err := s.ConfirmFactor(t.Context(), f.ID, 100, hashes("rc-"+id), upgradeOf(t, s, sess.ID), nil); err != nil {
		t.Fatalf("ConfirmFactor(%s): %v", id, err)
	}
	return f
}

// sessionAccess: GetSessionAccess reads the user, the session's level and
// whether the account has a verified factor; a missing session is ErrNoSession.
func sessionAccess(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	u, err := s.GetUser(ctx, sess.UserID)
	if err != nil {
		t.Fatal(err)
	}
	other := addSession(t, s, u.ID, "s2", when)
	// The bearer check reads the user's own metadata too (GET /profile's).
	u.UserMetadata = "{}"
	want := db.SessionAccess{User: u, AAL: db.AAL1}
	if got, err := s.GetSessionAccess(ctx, sess.ID, u.ID); err != nil || got != want {
		t.Errorf("GetSessionAccess = %+v, %v; want %+v", got, err, want)
	}
	factor(t, s, u.ID, "pending")
	if got, err := s.GetSessionAccess(ctx, sess.ID, u.ID); err != nil || got.HasFactor {
		t.Errorf("an unverified factor counts: %+v, %v", got, err)
	}
	verified(t, s, sess, "f1")
	// The code that raised the session is a proof: its auth time is the upgrade's.
	want = db.SessionAccess{User: u, AAL: db.AAL2, HasFactor: true, LevelGen: 1}
	if got, err := s.GetSessionAccess(ctx, sess.ID, u.ID); err != nil || got != want {
		t.Errorf("after ConfirmFactor: %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.GetSession(ctx, sess.ID); err != nil || !got.AuthTime.Equal(db.Millis(when.Add(time.Minute))) {
		t.Errorf("after ConfirmFactor: auth time %v, %v; want %v", got.AuthTime, err, db.Millis(when.Add(time.Minute)))
	}
	want.AAL, want.LevelGen = db.AAL1, 0
	if got, err := s.GetSessionAccess(ctx, other.ID, u.ID); err != nil || got != want {
		t.Errorf("another session of the account: %+v, %v; want %+v", got, err, want)
	}
	// A session keeps the first factor it was created with.
	oidc := db.Session{ID: "s3", UserID: u.ID, CreatedAt: when, LastUsedAt: when, Generation: 1, RefreshHash: "h3",
		RotatedAt: when, RefreshExpiresAt: when.Add(time.Hour), AAL: db.AAL1, AMR: "user"}
	if err := s.CreateSession(ctx, oidc); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, oidc.ID); err != nil || got.AMR != "user" {
		t.Errorf("a session created with amr user: %+v, %v", got, err)
	}
	bob := mustCreate(t, s, "bob@example.com")
	for _, tt := range []struct {
		name   string
		id     string
		userID int64
	}{{"unknown session", "nope", u.ID}, {"another user's session", sess.ID, bob.ID}} {
		if _, err := s.GetSessionAccess(ctx, tt.id, tt.userID); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("%s: %v, want db.ErrNoSession", tt.name, err)
		}
	}
}

// factorReads: CreateFactor keeps one enrolment at a time; GetFactor and
// ListFactors read factors back, secrets as stored; another user's or a
// missing factor is ErrNoFactor.
func factorReads(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	bob := mustCreate(t, s, "bob@example.com")
	first := factor(t, s, sess.UserID, "first")
	if got, err := s.GetFactor(ctx, sess.UserID, first.ID); err != nil || string(got.Secret) != "sealed first" ||
		got.Verified || got.LastStep != 0 || !got.CreatedAt.Equal(db.Millis(when)) || !got.ExpiresAt.Equal(db.Millis(when.Add(15*time.Minute))) {
		t.Errorf("GetFactor = %+v, %v", got, err)
	}
	second := factor(t, s, sess.UserID, "second")
	if _, err := s.GetFactor(ctx, sess.UserID, first.ID); !errors.Is(err, db.ErrNoFactor) {
		t.Errorf("the enrolment a new one replaced: %v, want db.ErrNoFactor", err)
	}
	verified(t, s, sess, second.ID)
	factor(t, s, sess.UserID, "third") // replaces no verified factor
	list, err := s.ListFactors(ctx, sess.UserID)
	if err != nil || len(list) != 2 || list[0].ID != "second" || !list[0].Verified || list[0].LastStep != 100 || list[1].ID != "third" || list[1].Verified {
		t.Errorf("ListFactors = %+v, %v; want second (verified, step 100), third", list, err)
	}
	if list, err := s.ListFactors(ctx, bob.ID); err != nil || len(list) != 0 {
		t.Errorf("ListFactors of another user = %+v, %v", list, err)
	}
	for _, tt := range []struct {
		name   string
		userID int64
		id     string
	}{{"unknown", sess.UserID, "nope"}, {"another user's", bob.ID, "second"}} {
		if _, err := s.GetFactor(ctx, tt.userID, tt.id); !errors.Is(err, db.ErrNoFactor) {
			t.Errorf("GetFactor of %s factor: %v, want db.ErrNoFactor", tt.name, err)
		}
		if err := s.DeleteFactor(ctx, tt.userID, tt.id, nil); !errors.Is(err, db.ErrNoFactor) {
			t.Errorf("DeleteFactor of %s factor: %v, want db.ErrNoFactor", tt.name, err)
		}
	}
}

// confirmFactor: the step is compared and set (the same or an older step
// is ErrCodeUsed), a stale session rolls it all back (ErrStale), a second
// verified factor is ErrFactorExists, recovery codes are replaced, and the
// session moves to aal2 two generations on.
func confirmFactor(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := factor(t, s, sess.UserID, "f1")
	stale := upgradeOf(t, s, sess.ID)
	stale.Generation = 7
	if err := s.ConfirmFactor(ctx, f.ID, 100, hashes("a"), stale, nil); !errors.Is(err, db.ErrStale) {
		t.Fatalf("ConfirmFactor with a stale generation: %v, want db.ErrStale", err)
	}
	if got, _ := s.GetFactor(ctx, sess.UserID, f.ID); got.Verified || got.LastStep != 0 {
		t.Errorf("a stale ConfirmFactor left %+v; want it all rolled back", got)
	}
	if err := s.ConfirmFactor(ctx, f.ID, 100, hashes("a"), upgradeOf(t, s, sess.ID), nil); err != nil {
		t.Fatalf("ConfirmFactor: %v", err)
	}
	got, err := s.GetSession(ctx, sess.ID)
	if err != nil || got.AAL != db.AAL2 || got.Generation != 3 || got.RefreshHash != "up-s1" ||
		!got.RotatedAt.Equal(db.Millis(when.Add(time.Minute))) || !got.RefreshExpiresAt.Equal(db.Millis(when.Add(2*time.Hour))) {
		t.Errorf("the upgraded session = %+v, %v; want aal2, generation 3, hash up-s1", got, err)
	}
	if n, err := s.CountRecoveryCodes(ctx, sess.UserID); err != nil || n != 10 {
		t.Errorf("CountRecoveryCodes = %d, %v; want 10", n, err)
	}
	// A second enrolment on the same account cannot be verified too.
	g := factor(t, s, sess.UserID, "f2")
	if err := s.ConfirmFactor(ctx, g.ID, 200, hashes("b"), upgradeOf(t, s, sess.ID), nil); !errors.Is(err, db.ErrFactorExists) {
		t.Errorf("a second verified factor: %v, want db.ErrFactorExists", err)
	}
	if err := s.ConfirmFactor(ctx, f.ID, 300, hashes("b"), upgradeOf(t, s, sess.ID), nil); !errors.Is(err, db.ErrFactorExists) {
		t.Errorf("confirming a verified factor again: %v, want db.ErrFactorExists", err)
	}
	// The old codes still work: the refused confirmations changed nothing.
	if err := s.UseRecoveryCode(ctx, "a-3", upgradeOf(t, s, sess.ID)); err != nil {
		t.Errorf("a recovery code of the set in force: %v", err)
	}
	// Replays: the step accepted, an older one; a later one works once.
	for _, tt := range []struct {
		step int64
		want error
	}{{100, db.ErrCodeUsed}, {99, db.ErrCodeUsed}, {101, nil}, {101, db.ErrCodeUsed}} {
		if err := s.UseFactorCode(ctx, f.ID, tt.step, upgradeOf(t, s, sess.ID)); !errors.Is(err, tt.want) {
			t.Errorf("UseFactorCode(step %d): %v, want %v", tt.step, err, tt.want)
		}
	}
	stale = upgradeOf(t, s, sess.ID)
	stale.Generation--
	if err := s.UseFactorCode(ctx, f.ID, 102, stale); !errors.Is(err, db.ErrStale) {
		t.Errorf("UseFactorCode on a stale session: %v, want db.ErrStale", err)
	}
	if err := s.UseFactorCode(ctx, f.ID, 102, upgradeOf(t, s, sess.ID)); err != nil {
		t.Errorf("the step a stale UseFactorCode rolled back: %v", err)
	}
}

// concurrentCode: of many verifications with one code (one time step) at
// once, from different sessions, exactly one succeeds; the rest get
// ErrCodeUsed. The database decides, so this holds across replicas.
func concurrentCode(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s0", when.Add(time.Hour))
	f := verified(t, s, sess, "f1")
	const n = 16
	ups := make([]db.Upgrade, n)
	for i := range n {
		ups[i] = upgradeOf(t, s, addSession(t, s, sess.UserID, fmt.Sprint("c", i), when).ID)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     int
		unknown []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := s.UseFactorCode(ctx, f.ID, 101, ups[i])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, db.ErrCodeUsed):
				unknown = append(unknown, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won != 1 || len(unknown) > 0 {
		t.Errorf("%d of %d concurrent uses of one code won (want 1); other errors: %v", won, n, unknown)
	}
	var upgraded int
	for i := range n {
		if got, err := s.GetSession(ctx, ups[i].SessionID); err == nil && got.AAL == db.AAL2 {
			upgraded++
		}
	}
	if upgraded != 1 {
		t.Errorf("%d sessions upgraded by one code, want 1", upgraded)
	}
}

// recoveryCodes: a recovery code works once and only for its user; a new
// set voids the old one.
func recoveryCodes(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	bobSess := session(t, s, "bob@example.com", "b1", when.Add(time.Hour))
	verified(t, s, sess, "f1")
	if err := s.UseRecoveryCode(ctx, "rc-f1-0", upgradeOf(t, s, bobSess.ID)); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("another user's recovery code: %v, want db.ErrCodeUsed", err)
	}
	if err := s.UseRecoveryCode(ctx, "rc-f1-0", upgradeOf(t, s, sess.ID)); err != nil {
		t.Errorf("UseRecoveryCode: %v", err)
	}
	if err := s.UseRecoveryCode(ctx, "rc-f1-0", upgradeOf(t, s, sess.ID)); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("a spent recovery code: %v, want db.ErrCodeUsed", err)
	}
	if n, err := s.CountRecoveryCodes(ctx, sess.UserID); err != nil || n != 9 {
		t.Errorf("CountRecoveryCodes = %d, %v; want 9", n, err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, sess.UserID, sess.ID, hashes("new"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, "rc-f1-1", upgradeOf(t, s, sess.ID)); !errors.Is(err, db.ErrCodeUsed) {
		t.Errorf("a code of the replaced set: %v, want db.ErrCodeUsed", err)
	}
	if err := s.UseRecoveryCode(ctx, "new-1", upgradeOf(t, s, sess.ID)); err != nil {
		t.Errorf("a code of the new set: %v", err)
	}
	if n, err := s.CountRecoveryCodes(ctx, bobSess.UserID); err != nil || n != 0 {
		t.Errorf("bob's recovery codes = %d, %v; want 0", n, err)
	}
}

// deleteFactor: removing a pending factor changes nothing else; removing
// the last verified one voids the recovery codes and lowers every session.
func deleteFactor(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := verified(t, s, sess, "f1")
	pending := factor(t, s, sess.UserID, "f2")
	if err := s.DeleteFactor(ctx, sess.UserID, pending.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSessionAccess(ctx, sess.ID, sess.UserID); err != nil || got.AAL != db.AAL2 || !got.HasFactor {
		t.Errorf("after removing an unverified factor: %+v, %v; want aal2 with a factor", got, err)
	}
	if err := s.DeleteFactor(ctx, sess.UserID, f.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSessionAccess(ctx, sess.ID, sess.UserID); err != nil || got.AAL != db.AAL1 || got.HasFactor {
		t.Errorf("after removing the last factor: %+v, %v; want aal1 without a factor", got, err)
	}
	if n, err := s.CountRecoveryCodes(ctx, sess.UserID); err != nil || n != 0 {
		t.Errorf("recovery codes after removing the last factor: %d, %v; want 0", n, err)
	}
	if err := s.DeleteFactor(ctx, sess.UserID, f.ID, nil); !errors.Is(err, db.ErrNoFactor) {
		t.Errorf("DeleteFactor again: %v, want db.ErrNoFactor", err)
	}
}

// pruneFactors: PruneAccounts deletes unverified factors past their expiry,
// never a verified one; DeleteUser takes factors and codes along.
func pruneFactors(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(24*time.Hour))
	f := verified(t, s, sess, "f1")
	other := session(t, s, "bob@example.com", "b1", when.Add(24*time.Hour))
	pending := factor(t, s, other.UserID, "f2")
	n, err := s.PruneAccounts(ctx, when.Add(15*time.Minute))
	if err != nil || n != 1 {
		t.Errorf("PruneAccounts = %d, %v; want the expired enrolment", n, err)
	}
	if _, err := s.GetFactor(ctx, other.UserID, pending.ID); !errors.Is(err, db.ErrNoFactor) {
		t.Errorf("the expired enrolment: %v, want db.ErrNoFactor", err)
	}
	if _, err := s.GetFactor(ctx, sess.UserID, f.ID); err != nil {
		t.Errorf("a verified factor was pruned: %v", err)
	}
	if err := s.DeleteUser(ctx, sess.UserID); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListFactors(ctx, sess.UserID); err != nil || len(list) != 0 {
		t.Errorf("factors of a deleted user: %+v, %v", list, err)
	}
	if n, err := s.CountRecoveryCodes(ctx, sess.UserID); err != nil || n != 0 {
		t.Errorf("recovery codes of a deleted user: %d, %v", n, err)
	}
}

// sessionLevels: a session starts at level generation 0, its level changed
// when it started; every raise (ConfirmFactor, UseFactorCode,
// UseRecoveryCode) and every lowering (LowerSession, DeleteFactor's) moves
// the generation on, and a raise or LowerSession sets when; LowerSession is
// conditional on the generation read and on aal2.
func sessionLevels(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	level := func(id string) db.Session {
		t.Helper()
		got, err := s.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := level(sess.ID); got.LevelGen != 0 || !got.LevelAt.Equal(db.Millis(when)) || !got.CreatedAt.Equal(db.Millis(when)) || got.HasFactor {
		t.Errorf("a new session: %+v; want generation 0, level and start at %v, no factor", got, when)
	}
	other := addSession(t, s, sess.UserID, "s2", when.Add(time.Hour))
	f := verified(t, s, sess, "f1")
	if got := level(sess.ID); got.AAL != db.AAL2 || got.LevelGen != 1 || !got.LevelAt.Equal(db.Millis(when.Add(time.Minute))) || !got.HasFactor {
		t.Errorf("after ConfirmFactor: %+v; want aal2, generation 1 at the upgrade, a factor", got)
	}
	if err := s.LowerSession(ctx, sess.ID, 0, when.Add(time.Hour)); !errors.Is(err, db.ErrStale) {
		t.Errorf("LowerSession at an older generation: %v, want db.ErrStale", err)
	}
	if err := s.LowerSession(ctx, other.ID, 0, when.Add(time.Hour)); !errors.Is(err, db.ErrStale) {
		t.Errorf("LowerSession of an aal1 session: %v, want db.ErrStale", err)
	}
	if err := s.LowerSession(ctx, sess.ID, 1, when.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := level(sess.ID); got.AAL != db.AAL1 || got.LevelGen != 2 || !got.LevelAt.Equal(db.Millis(when.Add(time.Hour))) {
		t.Errorf("after LowerSession: %+v; want aal1, generation 2 at the lowering", got)
	}
	if err := s.UseFactorCode(ctx, f.ID, 101, upgradeOf(t, s, sess.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, "rc-f1-0", upgradeOf(t, s, other.ID)); err != nil {
		t.Fatal(err)
	}
	if a, b := level(sess.ID), level(other.ID); a.LevelGen != 3 || a.AAL != db.AAL2 || b.LevelGen != 1 || b.AAL != db.AAL2 {
		t.Errorf("after a code and a recovery code: %+v, %+v; want aal2 at generations 3 and 1", a, b)
	}
	if err := s.LowerSession(ctx, "nope", 0, when); !errors.Is(err, db.ErrStale) {
		t.Errorf("LowerSession of an unknown session: %v, want db.ErrStale", err)
	}
	if err := s.DeleteFactor(ctx, sess.UserID, f.ID, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := level(sess.ID), level(other.ID); a.LevelGen != 4 || a.AAL != db.AAL1 || b.LevelGen != 2 || b.AAL != db.AAL1 {
		t.Errorf("after the last factor went: %+v, %+v; want aal1 at generations 4 and 2", a, b)
	}
}

// factorFailures: CountFactorAttempt counts codes against a verified factor
// up to the bound, then ErrFactorLocked; a right code (its step taken), a
// recovery code and an unlock token each set the count back to 0; an
// unverified, unknown or deleted factor is ErrNoFactor.
func factorFailures(t *testing.T, s db.Store) {
	ctx := t.Context()
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := verified(t, s, sess, "f1")
	const limit = 3
	count := func(want int64, wantErr error) {
		t.Helper()
		n, err := s.CountFactorAttempt(ctx, f.ID, limit, nil)
		if !errors.Is(err, wantErr) || (wantErr == nil && n != want) {
			t.Errorf("CountFactorAttempt = %d, %v; want %d, %v", n, err, want, wantErr)
		}
	}
	failures := func(want int64) {
		t.Helper()
		if got, err := s.GetFactor(ctx, sess.UserID, f.ID); err != nil || got.Failures != want {
			t.Errorf("GetFactor's Failures = %d, %v; want %d", got.Failures, err, want)
		}
	}
	count(1, nil)
	count(2, nil)
	if err := s.UseFactorCode(ctx, f.ID, 101, upgradeOf(t, s, sess.ID)); err != nil {
		t.Fatal(err)
	}
	failures(0) // a right code ends the run
	for i := range limit {
		count(int64(i+1), nil)
	}
	count(0, db.ErrFactorLocked)
	count(0, db.ErrFactorLocked)
	failures(limit) // a refusal counts nothing
	if err := s.UseRecoveryCode(ctx, "rc-f1-0", upgradeOf(t, s, sess.ID)); err != nil {
		t.Fatal(err)
	}
	failures(0)
	for i := range limit {
		count(int64(i+1), nil)
	}
	bob := mustCreate(t, s, "bob@example.com")
	expires := when.Add(time.Hour)
	token(t, s, "unlock", sess.UserID, db.PurposeUnlockMFA, expires)
	token(t, s, "expired", sess.UserID, db.PurposeUnlockMFA, when)
	token(t, s, "reset", sess.UserID, db.PurposeResetPassword, expires)
	token(t, s, "bob", bob.ID, db.PurposeUnlockMFA, expires)
	for _, hash := range []string{"nope", "expired", "reset"} {
		if _, err := s.UnlockFactor(ctx, hash, when); !errors.Is(err, db.ErrNoToken) {
			t.Errorf("UnlockFactor(%s): %v, want db.ErrNoToken", hash, err)
		}
	}
	if id, err := s.UnlockFactor(ctx, "bob", when); err != nil || id != bob.ID {
		t.Errorf("UnlockFactor of another user = %d, %v; want %d", id, err, bob.ID)
	}
	failures(limit) // bob's token unlocks bob's factors only
	if id, err := s.UnlockFactor(ctx, "unlock", when); err != nil || id != sess.UserID {
		t.Errorf("UnlockFactor = %d, %v; want %d", id, err, sess.UserID)
	}
	failures(0)
	if _, err := s.UnlockFactor(ctx, "unlock", when); !errors.Is(err, db.ErrNoToken) {
		t.Errorf("an unlock token again: %v, want db.ErrNoToken", err)
	}
	pending := factor(t, s, bob.ID, "pending")
	for _, id := range []string{pending.ID, "nope"} {
		if _, err := s.CountFactorAttempt(ctx, id, limit, nil); !errors.Is(err, db.ErrNoFactor) {
			t.Errorf("CountFactorAttempt(%s): %v, want db.ErrNoFactor", id, err)
		}
	}
}

// concurrentFailures: codes counted at once, as from many replicas, never
// pass the bound: exactly the bound's worth are counted, the rest locked.
func concurrentFailures(t *testing.T, s db.Store) {
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	f := verified(t, s, sess, "f1")
	const limit = 3
	errs := race(t, func(ctx context.Context, _ int) error {
		_, err := s.CountFactorAttempt(ctx, f.ID, limit, nil)
		return err
	})
	counted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			counted++
		case !errors.Is(err, db.ErrFactorLocked):
			t.Errorf("CountFactorAttempt: %v, want nil or db.ErrFactorLocked", err)
		}
	}
	if counted != limit {
		t.Errorf("%d of %d attempts at once counted, want the bound, %d", counted, len(errs), limit)
	}
	if got, err := s.GetFactor(t.Context(), sess.UserID, f.ID); err != nil || got.Failures != limit {
		t.Errorf("Failures = %d, %v; want %d", got.Failures, err, limit)
	}
}

// resealFactors: ResealFactorSecrets stores what reseal returns for each
// factor and keeps those it returns nil for, batch by batch, and counts the
// rewrites; an error rolls its batch back and is returned, earlier batches
// staying rewritten; run again it finishes the rest, and then rewrites
// nothing.
func resealFactors(t *testing.T, s db.Store) {
	ctx := t.Context()
	const n, batch = 12, 5
	users := make([]int64, n)
	for i := range n {
		users[i] = mustCreate(t, s, fmt.Sprintf("u%d@example.com", i)).ID
		factor(t, s, users[i], fmt.Sprintf("f%03d", i)) // sealed "sealed f%03d"
	}
	boom := errors.New("opens under no key")
	reseal := func(failOn string) func(string, []byte) ([]byte, error) {
		return func(id string, sealed []byte) ([]byte, error) {
			var i int
			fmt.Sscanf(id, "f%d", &i)
			switch {
			case id == failOn:
				return nil, boom
			case string(sealed) == "sealed "+id && i%2 == 0:
				return []byte("resealed " + id), nil
			}
			return nil, nil
		}
	}
	secretOf := func(i int) string {
		t.Helper()
		f, err := s.GetFactor(ctx, users[i], fmt.Sprintf("f%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		return string(f.Secret)
	}

	got, err := s.ResealFactorSecrets(ctx, batch, reseal(fmt.Sprintf("f%03d", n-1)))
	if !errors.Is(err, boom) || got != 5 {
		t.Fatalf("a reseal failing in the third batch: %d, %v; want 5 (the first two batches'), its error", got, err)
	}
	for i, want := range map[int]string{0: "resealed f000", 1: "sealed f001", 8: "resealed f008", 10: "sealed f010"} {
		if s := secretOf(i); s != want {
			t.Errorf("factor %d after the failed run: %q, want %q", i, s, want)
		}
	}
	if got, err := s.ResealFactorSecrets(ctx, batch, reseal("")); err != nil || got != 1 {
		t.Errorf("run again: %d, %v; want 1 (f010)", got, err)
	}
	if s := secretOf(10); s != "resealed f010" {
		t.Errorf("factor 10: %q", s)
	}
	if got, err := s.ResealFactorSecrets(ctx, batch, reseal("")); err != nil || got != 0 {
		t.Errorf("a third run: %d, %v; want 0", got, err)
	}
}
