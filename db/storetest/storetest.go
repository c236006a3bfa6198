// Package storetest is the one test suite every db.Store adapter runs, so
// that SQLite and PostgreSQL behave the same as far as keel can tell: a
// difference between the engines is a failing test here, not a surprise in
// production. Each adapter's own tests call Run with a function that opens a
// fresh, empty database of its engine.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// Run runs the suite. open returns a new, empty, migrated store for one
// subtest and arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) db.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s db.Store)
	}{
		{"a created user reads back", createAndGet},
		{"emails are unique", uniqueEmails},
		{"emails are unique regardless of letter case", uniqueAnyCase},
		{"credentials are found in any letter case", credentialsAnyCase},
		{"timestamps come back in UTC to the millisecond", timestamps},
		{"a missing user is ErrNoUser", missingUser},
		{"CreateUser's after runs in its transaction", createUserAfter},
		{"the changes the owner is told about, and those an event records, run after in their transaction; its error rolls them back", afterHooks},
		{"DeleteUser takes sessions and tokens along", deleteUser},
		{"CountUsers counts accounts, CountUsersBefore those created before a time", countUsers},
		{"one email created at once from many goroutines: one success", concurrentSameEmail},
		{"distinct emails created at once: all succeed", concurrentDistinctEmails},
		{"Ping answers", ping},
		{"concurrent rotations of one refresh token: exactly one wins", concurrentRotation},
		{"expired sessions and tokens are pruned, live ones kept", pruneAccounts},
		{"a session reads back; a missing one is ErrNoSession", sessionReads},
		{"RotateRefresh moves on; the old hash is ErrStale", rotateRefresh},
		{"ListSessions lists the user's, newest first", listSessions},
		{"DeleteSession, EndSession and DeleteSessions end the right sessions", endingSessions},
		{"ChangePassword ends the others and voids reset links", changePassword},
		{"VerifyEmail spends a token once, before it expires", verifyEmail},
		{"ResetPassword spends a token once and ends every session", resetPassword},
		{"TakeRateToken admits a burst, refuses with a wait, refills", takeRateToken},
		{"PruneRateLimits forgets refilled keys", pruneRateLimits},
		{"ReturnRateToken gives one token back, never past the burst", returnRateToken},
		{"a sign-in flow reads back once, before it expires", oauthFlows},
		{"concurrent takes of one sign-in flow: exactly one wins", concurrentFlowTakes},
		{"a new provider user gets an account without a password", signInNewUser},
		{"SignInWithProvider's after runs in its transaction", signInAfterFails},
		{"a returning provider user finds its account", signInReturning},
		{"a provider user links to an account by email only when its provider may and verified it; an unproved account is taken over", signInByEmail},
		{"a reset of an account whose address was unproved clears every way in; of a verified one, keeps them", resetClearsUnproved},
		{"a link by email into an account whose address was unproved clears it, its password too", linkByEmailClearsUnproved},
		{"first sign-ins of one provider user at once: one account", concurrentFirstSignIns},
		{"a link code links once, to one user", linkIdentity},
		{"a sign-in code redeems once, before it expires", oauthCodes},
		{"RedeemOAuthCode redeems once, with its challenge, for a session", redeemOAuthCode},
		{"concurrent redemptions of link codes of one provider user: one owner", concurrentLinkRedemptions},
		{"unlinking an identity voids its sign-in codes; a code whose identity is not its user's is refused", unlinkVoidsCodes},
		{"a provider sign-in racing a reset leaves no code the reset did not void", signInAroundReset},
		{"ListIdentities lists the user's, oldest first", listIdentities},
		{"DeleteIdentity unlinks, but not the last way in", deleteIdentity},
		{"concurrent unlinks of a passwordless account's two identities: one wins", concurrentUnlinks},
		{"expired sign-in flows and codes are pruned, live ones kept", pruneOAuth},
		{"DeleteUser takes identities, link flows and codes along", deleteUserOAuth},
		{"an identity that created its account unverified is untrusted: a reset drops it", newUserTrust},
		{"nothing is linked to an account whose address is unproved; after the proof, links are trusted", linkTrust},
		{"a code redeemed around a reset leaves no session or link", redeemAroundProof},
		{"ResetPassword voids the user's codes and link flows, not another's", resetGrants},
		{"VerifyEmail by the account's holder trusts its identities and ends nothing", verifyEmailTrust},
		{"a link by email drops untrusted identities with the sessions, codes and link flows", linkByEmailTrust},
		{"GetSessionAccess reads the user, the session's level and the factor", sessionAccess},
		{"factors read back; one enrolment at a time; missing is ErrNoFactor", factorReads},
		{"ConfirmFactor and UseFactorCode compare and set the step; stale sessions roll back", confirmFactor},
		{"one code used at once from many sessions: exactly one wins", concurrentCode},
		{"a recovery code works once; a new set voids the old", recoveryCodes},
		{"ResealFactorSecrets rewrites what reseal returns, batch by batch; an error rolls its batch back", resealFactors},
		{"removing the last factor voids recovery codes and lowers the sessions", deleteFactor},
		{"every raise and lowering moves a session's level generation on; LowerSession", sessionLevels},
		{"CountFactorAttempt counts to the bound; a right code, a recovery code or an unlock token sets it back", factorFailures},
		{"codes counted at once never pass the failure bound", concurrentFailures},
		{"expired enrolments are pruned; a deleted user's factors go", pruneFactors},
		{"a session's auth time reads back; StampAuthTime stamps the user's own session", authTimes},
		{"a TOTP or recovery code proves the user once and stamps the session", codeProofs},
		{"a sign-in code carries the provider's auth time to its session", codeAuthTime},
		{"ending sessions is announced once committed; LiveSessions", announcements},
		{"a confirmed factor is announced once committed, a failed one not", factorAnnouncements},
		{"a passkey ceremony reads back once, before it expires", passkeyCeremonies},
		{"concurrent takes of one passkey ceremony: exactly one wins", concurrentCeremonyTakes},
		{"passkeys read back; a credential id is registered once, across users", passkeyReads},
		{"UsePasskey compares and sets the count and BE, stores UV, BS and the time", usePasskey},
		{"RenamePasskey renames the user's passkey only", renamePasskey},
		{"DeletePasskey removes, but not the last way in; DeleteIdentity counts passkeys", deletePasskey},
		{"concurrent removals of a passwordless account's two passkeys: one wins", concurrentPasskeyDeletes},
		{"removing a passkey or an identity ends the sessions it started, announced", endsWhatItStarted},
		{"expired passkey ceremonies are pruned; a deleted user's passkeys go", prunePasskeys},
		{"an account holds at most MaxPasskeys passkeys, racers included", passkeyCap},
		{"an account links at most MaxIdentities identities, racers included", identityCap},
		{"past MaxSessions a new session ends the least recently used, announced; racers leave the cap", sessionCap},
		{"a sign-in's session is stored only while the password hash or passkey it checked still holds", signInHolds},
		{"a passkey or recovery codes are added only for the user's live session", addsNeedTheSession},
		{"a passkey handle is the account's from its first registration, and finds it; old passkeys' ids still do", passkeyHandles},
		{"a session holds at most max socket places, racers included; leases expire unless renewed; giving back frees", socketPlaces},
		{"an event reads back, newest first; one rolled back is not there; a deleted user's stay", eventsReadBack},
		{"ListEvents filters by user, actor, type and time, alone and together", eventFilters},
		{"ListEvents pages by id, never repeating one, whatever is recorded meanwhile", eventPages},
		{"PruneEvents deletes the events before the cutoff, oldest first, a batch at a time", pruneEvents},
		{"a ban ends every session, grants among them, announced, and voids the sign-in codes", banEnds},
		{"while a ban lasts no sign-in starts a session or stores a code; at its end or once lifted they do", bannedSignIns},
		{"UnbanUser lifts a ban once; missing is ErrNoUser", unbanUser},
		{"what ImportUsers stores reads back whole through ExportUsers, page by page; new ids come after kept ones", importExport},
		{"ImportUsers: an account refused for what another holds leaves nothing of itself, the others go in; an external_id comes in once", importRefusals},
		{"a sign-in's rehash replaces the hash only while the hash it checked holds", rehashHolds},
		{"CreateAccount stores an admin's account: no password, its flag and app_metadata; a taken address", createAccount},
		{"UpdateUser changes what it names; a new address is unverified unless said and voids the old links", updateUser},
		{"EndUserSessions ends every session of the account, announced, and voids its codes and link flows", endUserSessions},
		{"ResetFactors removes factors and recovery codes (passkeys when asked) and ends every session", resetFactors},
		{"Close releases the database", closeStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// when is a creation time with nanoseconds in a zone east of UTC, so a
// store that keeps local time or more than milliseconds shows it.
var when = time.Date(2026, 11, 25, 23, 59, 58, 123456789, time.FixedZone("IST", 5*3600+1800))

// mustCreate creates a user or fails the test.
func mustCreate(t *testing.T, s db.Store, email string) db.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "hash-of-"+email, when, nil)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func createAndGet(t *testing.T, s db.Store) {
	u := mustCreate(t, s, "ada@example.com")
	if u.ID <= 0 || u.Email != "ada@example.com" {
		t.Errorf("CreateUser returned %+v", u)
	}
	got, err := s.GetUser(t.Context(), u.ID)
	if err != nil || got != u {
		t.Errorf("GetUser(%d) = %+v, %v; want %+v", u.ID, got, err, u)
	}
	c, err := s.GetCredentials(t.Context(), "ada@example.com")
	if err != nil || c != (db.Credentials{UserID: u.ID, PasswordHash: "hash-of-ada@example.com"}) {
		t.Errorf("GetCredentials = %+v, %v", c, err)
	}
}

func uniqueEmails(t *testing.T, s db.Store) {
	a := mustCreate(t, s, "ada@example.com")
	b := mustCreate(t, s, "bob@example.com")
	if a.ID == b.ID {
		t.Errorf("two users share id %d", a.ID)
	}
	if _, err := s.CreateUser(t.Context(), "ada@example.com", "other", when, nil); !errors.Is(err, db.ErrEmailTaken) {
		t.Errorf("second ada@example.com: %v, want db.ErrEmailTaken", err)
	}
}

func uniqueAnyCase(t *testing.T, s db.Store) {
	mustCreate(t, s, "ada@example.com")
	for _, email := range []string{"Ada@example.com", "ADA@EXAMPLE.COM", "ada@Example.Com"} {
		t.Run(email, func(t *testing.T) {
			if _, err := s.CreateUser(t.Context(), email, "other", when, nil); !errors.Is(err, db.ErrEmailTaken) {
				t.Errorf("CreateUser(%q) after ada@example.com: %v, want db.ErrEmailTaken", email, err)
			}
		})
	}
	if n, err := s.CountUsers(t.Context()); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

func credentialsAnyCase(t *testing.T, s db.Store) {
	// Stored in mixed case, as a writer that forgot to normalise would.
	u := mustCreate(t, s, "Grace.Hopper@Example.com")
	for _, email := range []string{"Grace.Hopper@Example.com", "grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM"} {
		t.Run(email, func(t *testing.T) {
			c, err := s.GetCredentials(t.Context(), email)
			if err != nil || c.UserID != u.ID {
				t.Errorf("GetCredentials(%q) = %+v, %v; want user %d", email, c, err, u.ID)
			}
		})
	}
}

func timestamps(t *testing.T, s db.Store) {
	want := time.Date(2026, 11, 25, 18, 29, 58, 123000000, time.UTC) // when, in UTC, to the millisecond
	check := func(what string, got time.Time) {
		t.Helper()
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: created_at %v (%s), want %v", what, got, got.Location(), want)
		}
	}
	u := mustCreate(t, s, "ada@example.com")
	check("CreateUser", u.CreatedAt)
	got, err := s.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("GetUser", got.CreatedAt)
}

func countUsers(t *testing.T, s db.Store) {
	count := func(want int64) {
		t.Helper()
		if n, err := s.CountUsers(t.Context()); err != nil || n != want {
			t.Errorf("CountUsers = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	for i := range 3 {
		mustCreate(t, s, fmt.Sprintf("user%d@example.com", i))
	}
	count(3)
	s.CreateUser(t.Context(), "user0@example.com", "x", when, nil) // refused: counts nothing
	count(3)
	if _, err := s.CreateUser(t.Context(), "later@example.com", "x", when.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		before time.Time
		want   int64
	}{{when, 0}, {when.Add(time.Millisecond), 3}, {when.Add(time.Hour), 3}, {when.Add(time.Hour + time.Millisecond), 4}} {
		if n, err := s.CountUsersBefore(t.Context(), c.before); err != nil || n != c.want {
			t.Errorf("CountUsersBefore(%v) = %d, %v; want %d", c.before, n, err, c.want)
		}
	}
}

// racers is how many goroutines create at once: more than either adapter's
// connections, so some wait for one.
const racers = 32

// race runs create(i) for i in [0, racers) all at once and returns the errors.
func race(t *testing.T, create func(ctx context.Context, i int) error) []error {
	t.Helper()
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = create(t.Context(), i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOne checks the errors of racers doing one thing at once: exactly
// one succeeded, and every other lost with loser.
func exactlyOne(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, loser):
			t.Errorf("%s: %v, want nil or %v", what, err, loser)
		}
	}
	if ok != 1 {
		t.Errorf("%s: %d of %d racers succeeded, want exactly 1", what, ok, len(errs))
	}
}

func concurrentSameEmail(t *testing.T, s db.Store) {
	errs := race(t, func(ctx context.Context, i int) error {
		_, err := s.CreateUser(ctx, "ada@example.com", fmt.Sprint("hash", i), when, nil)
		return err
	})
	exactlyOne(t, "CreateUser of one email", errs, db.ErrEmailTaken)
	if n, err := s.CountUsers(t.Context()); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

func concurrentDistinctEmails(t *testing.T, s db.Store) {
	errs := race(t, func(ctx context.Context, i int) error {
		_, err := s.CreateUser(ctx, fmt.Sprintf("user%d@example.com", i), "hash", when, nil)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateUser(user%d): %v", i, err)
		}
	}
	if n, err := s.CountUsers(t.Context()); err != nil || n != racers {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, racers)
	}
}

func ping(t *testing.T, s db.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// Query returns the SQL of the query called name in an sqlc query file,
// comments dropped and each sqlc.arg(…) replaced by param, so a test can
// EXPLAIN the very statement the adapter runs.
func Query(t testing.TB, file, name, param string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "-- name: "); ok {
			in = strings.Fields(rest)[0] == name
			continue
		}
		if in && line != "" && !strings.HasPrefix(line, "--") {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no query %s in %s", name, file)
	}
	return sqlcArg.ReplaceAllLiteralString(strings.Join(lines, " "), param)
}

var sqlcArg = regexp.MustCompile(`sqlc\.arg\(\w+\)`)

// session stores a session of a new user, its refresh token hash "h1" and
// its refresh expiry at expires.
func session(t *testing.T, s db.Store, email, id string, expires time.Time) db.Session {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "x", when, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess := db.Session{ID: id, UserID: u.ID, CreatedAt: when, LastUsedAt: when, UserAgent: "test",
		Generation: 1, RefreshHash: "h1", RotatedAt: when, RefreshExpiresAt: expires}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	return sess
}

// concurrentRotation: the check-and-rotate of a refresh token is one
// conditional statement, so of many rotations of the same old hash at once
// exactly one succeeds and the others get ErrStale, on every engine.
func concurrentRotation(t *testing.T, s db.Store) {
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     int
		unknown []error
	)
	for i := range n {
		wg.Go(func() {
			_, err := s.RotateRefresh(t.Context(), sess.ID, "h1", fmt.Sprint("h2-", i), when.Add(time.Minute), when.Add(2*time.Hour))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, db.ErrStale):
				unknown = append(unknown, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || len(unknown) > 0 {
		t.Errorf("%d rotations won (want 1); other errors: %v", won, unknown)
	}
}

// pruneAccounts: PruneAccounts deletes what expired before now and keeps
// what has not.
func pruneAccounts(t *testing.T, s db.Store) {
	ctx := t.Context()
	old := session(t, s, "old@example.com", "old", when.Add(-time.Minute))
	// Expiring exactly now is expired, as the server counts it.
	edge := session(t, s, "edge@example.com", "edge", when)
	live := session(t, s, "live@example.com", "live", when.Add(time.Hour))
	for _, tok := range []db.OneTimeToken{
		{Hash: "expired", UserID: old.UserID, Purpose: db.PurposeVerifyEmail, Email: "old@example.com", ExpiresAt: when.Add(-time.Second)},
		{Hash: "valid", UserID: live.UserID, Purpose: db.PurposeVerifyEmail, Email: "live@example.com", ExpiresAt: when.Add(time.Hour)},
	} {
		if err := s.CreateOneTimeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneAccounts(ctx, when)
	if err != nil || n != 3 {
		t.Fatalf("PruneAccounts: %d rows, %v; want the two expired sessions and the token", n, err)
	}
	if _, err := s.GetSession(ctx, edge.ID); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("session expiring exactly now: %v, want ErrNoSession", err)
	}
	if _, err := s.GetSession(ctx, old.ID); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("expired session: %v, want ErrNoSession", err)
	}
	if _, err := s.GetSession(ctx, live.ID); err != nil {
		t.Errorf("live session pruned: %v", err)
	}
	if err := s.VerifyEmail(ctx, "valid", live.UserID, when); err != nil {
		t.Errorf("live token pruned: %v", err)
	}
}
