package server

import (
	"testing"
	"time"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/token"
)

// newSecret is the JWT_SECRET a test changes to from testSecret.
const newSecret = "the-new-secret-after-a-change-0123456789"

// restartWith replaces a's server by one over the same database with
// JWT_SECRET secret and, when not empty, JWT_SECRET_PREVIOUS previous, and
// no MFA_KEY: its MFA keys derive from the two, as cmd/keel's do. A restart
// of every replica with the new settings.
func (a *testAPI) restartWith(secret, previous string) {
	a.t.Helper()
	var before [][]byte
	if previous != "" {
		before = append(before, []byte(previous))
	}
	keys, err := mfa.New([]byte(secret), before...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.srv, a.jobs = newServer(a.t, a.srv.cfg, a.db, a.srv.log, a.clock.Now, testPasswords(), func(d *Deps) {
		d.Tokens = token.New([]byte(secret), testJWTTTL, a.clock.Now)
		d.Refresh = token.NewRefresher([]byte(secret), before...)
		d.MFA = keys
	})
}

// TestChangeJWTSecret: changing JWT_SECRET, with the old one kept as
// JWT_SECRET_PREVIOUS, signs no one out and voids no factor. A session of
// before refreshes, its refresh token just replaced still gets (within
// REFRESH_REUSE_INTERVAL) the one the session holds, which refreshes again;
// a TOTP code and a recovery code of before verify, wrong recovery codes
// counting once each. Without JWT_SECRET_PREVIOUS the refresh token of
// before is refused, so the setting is what keeps it; a recovery code set
// made after the change works under the new secret alone, and so, once
// re-sealed (keel secrets reseal), does the TOTP factor of before.
func TestChangeJWTSecret(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.RefreshReuseInterval = time.Minute })
	secret, codes, pair := a.mfaAccount("ada@example.com")
	// Under the old secret the session moves on a generation: pair's refresh
	// token is the one just replaced, held's the session's.
	held := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "a refresh before the change"))

	a.restartWith(newSecret, "")
	a.status(a.refresh(held.RefreshToken), 401, "the refresh token of before, without JWT_SECRET_PREVIOUS")

	a.restartWith(newSecret, testSecret)
	again := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "the token just replaced, after the change"))
	if again.RefreshToken != held.RefreshToken {
		t.Error("the token just replaced got a refresh token that is not the one the session holds")
	}
	next := decode[oapi.Token](t, a.status(a.refresh(again.RefreshToken), 200, "the session's refresh token of before"))
	a.status(a.refresh(next.RefreshToken), 200, "a refresh token made after the change")
	if a.profileStatus(next.Token) != 200 {
		t.Error("an access token of the refreshed session is refused")
	}

	a.clock.Add(mfa.Period)
	tok := a.mustLogin("ada@example.com", "password123")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(tok, "code", codeAt(t, secret, a.clock.Now())), 200, "a TOTP code of a factor of before"))
	tok = a.mustLogin("ada@example.com", "password123")
	for range codesPerMinute - 1 {
		a.status(a.mfaVerify(tok, "recovery_code", "aaaa-bbbb-cccc-dddd"), 400, "a wrong recovery code")
	}
	a.status(a.mfaVerify(tok, "recovery_code", codes[0]), 200, "a recovery code of before (the fifth code of the minute)")

	fresh := decode[oapi.RecoveryCodes](t, a.status(a.do("POST", "/mfa/recovery-codes", "", bearer(up.Token)...), 200, "new recovery codes"))

	// What keel secrets reseal does (cmd/keel's TestSecretsReseal runs it),
	// then a restart with the new secret alone.
	keys, err := mfa.New([]byte(newSecret), []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.store.ResealFactorSecrets(t.Context(), 10, keys.Reseal); err != nil || n != 1 {
		t.Fatalf("reseal: %d, %v; want 1", n, err)
	}
	a.restartWith(newSecret, "")
	a.clock.Add(mfa.Period)
	tok = a.mustLogin("ada@example.com", "password123")
	a.status(a.mfaVerify(tok, "code", codeAt(t, secret, a.clock.Now())), 200, "a TOTP code, re-sealed, under the new secret alone")
	tok = a.mustLogin("ada@example.com", "password123")
	a.status(a.mfaVerify(tok, "recovery_code", fresh.RecoveryCodes[0]), 200, "a recovery code of a set made after the change, under the new secret alone")
}

// TestChangeJWTSecretRolling: with rolling restarts, replicas of two
// settings serve at once. A replica that accepts the new secret but still
// makes tokens under the old one (JWT_SECRET=old, JWT_SECRET_PREVIOUS=new)
// and one of the next step (JWT_SECRET=new, JWT_SECRET_PREVIOUS=old)
// accept each other's refresh tokens, factors and recovery codes, so the
// two rolling steps of docs/tokens.md sign no one out on either.
func TestChangeJWTSecretRolling(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.restartWith(testSecret, newSecret) // the first step: the new secret accepted
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")

	a.restartWith(newSecret, testSecret) // the second step, on another replica
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "a refresh token of the old secret on a replica of the new"))
	a.restartWith(testSecret, newSecret) // a replica of the first step again
	a.status(a.refresh(pair.RefreshToken), 200, "a refresh token of the new secret on a replica of the first step")

	a.restartWith(newSecret, testSecret)
	tok := a.mustLogin("ada@example.com", "password123")
	e := a.enroll(tok)
	v := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(tok, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "enrol under the new secret"))
	a.restartWith(testSecret, newSecret)
	a.clock.Add(mfa.Period)
	tok = a.mustLogin("ada@example.com", "password123")
	a.status(a.mfaVerify(tok, "code", codeAt(t, e.Secret, a.clock.Now())), 200, "a TOTP factor sealed under the new secret, on a replica of the first step")
	tok = a.mustLogin("ada@example.com", "password123")
	a.status(a.mfaVerify(tok, "recovery_code", v.RecoveryCodes[0]), 200, "a recovery code hashed under the new secret, on a replica of the first step")
}
