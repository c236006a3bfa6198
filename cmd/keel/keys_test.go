package main

// The rotation test: keel processes (the real binary) and `keel keys` run
// beside them, as an operator would, on PostgreSQL (two replicas) and on
// SQLite (one process, then a restart).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/pgtest"
)

// TestKeyRotation: `keel keys rotate` on one replica's database is
// published by every replica within a second; after JWKS_MAX_AGE every
// replica signs with the new key while tokens of the old one keep working;
// `keel keys revoke` of the current key makes every replica refuse its
// tokens within a second and sign with a fresh key at once. Nothing
// restarts, no one is signed out (refresh tokens refresh throughout), and on
// SQLite the keys survive a restart.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	keelBinary(t) // skips under -short before PostgreSQL is started
	for _, engine := range []string{enginePostgres, engineSQLite} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"JWKS_MAX_AGE": "2s", "API_URL": "http://127.0.0.1:1", "AUTH_RATE_LIMIT": "0"}
			replicas := 2
			if engine == enginePostgres {
				env["DATABASE_URL"] = pgtest.NewDatabase(t)
			} else {
				env["DATABASE_URL"] = filepath.Join(t.TempDir(), "keel.db")
				replicas = 1
			}
			testKeyRotation(t, env, replicas)
		})
	}
}

func testKeyRotation(t *testing.T, env map[string]string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hc := checkedClient(t, 5*time.Second, nil)
	var ps []*proc
	for range n {
		ps = append(ps, startKeel(t, env))
	}
	keelCmd := func(args ...string) string {
		t.Helper()
		vars := map[string]string{"JWT_SECRET": testSecret, "KEYS_KEK": testKEK}
		for k, v := range env {
			vars[k] = v
		}
		var out bytes.Buffer
		if err := run(ctx, args, func(k string) string { return vars[k] }, &out); err != nil {
			t.Fatalf("keel %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	published := func(p *proc) []string {
		t.Helper()
		res, err := hc.Get(p.url("/.well-known/jwks.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var set struct{ Keys []struct{ Kid, Alg string } }
		if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			// The RS256 key beside keel's own (EdDSA here) is the OpenID
			// Provider's (keys.Config.Also): it rotates on its own.
			if k.Alg != keys.RS256 {
				kids = append(kids, k.Kid)
			}
		}
		return kids
	}
	// within waits until ok holds on every replica, or fails after d.
	within := func(d time.Duration, what string, ok func(p *proc) bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for _, p := range ps {
			for !ok(p) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within %v on %s", what, d, p.addr)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	type pair struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refresh_token"`
	}
	login := func(p *proc) pair {
		t.Helper()
		code, body, err := post(ctx, hc, p.url("/login"), creds("ada@example.com", "password123"))
		var tok pair
		if err != nil || code != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login: %d %s %v", code, body, err)
		}
		return tok
	}
	refresh := func(p *proc, r string) pair {
		t.Helper()
		code, body, err := post(ctx, hc, p.url("/token/refresh"), `{"refresh_token":"`+r+`"}`)
		var tok pair
		if err != nil || code != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("refresh: %d %s %v", code, body, err)
		}
		return tok
	}
	profile := func(p *proc, tok string) int {
		t.Helper()
		code, body, err := getProfile(ctx, hc, p, tok)
		if err != nil || (code != 200 && code != 401) {
			t.Fatalf("profile: %d %s %v", code, body, err)
		}
		return code
	}

	if code, body, err := post(ctx, hc, ps[0].url("/register"), creds("ada@example.com", "password123")); err != nil || code != 201 {
		t.Fatalf("register: %d %s %v", code, body, err)
	}
	first := login(ps[0])
	k0 := kidOf(t, first.Token)
	// mint is a new access token from p, by refreshing one session (a
	// login each time would end the oldest sessions past the cap of 100).
	probe := login(ps[0])
	mint := func(p *proc) string {
		t.Helper()
		probe = refresh(p, probe.RefreshToken)
		return probe.Token
	}
	for _, p := range ps {
		if got := published(p); !slices.Equal(got, []string{k0}) {
			t.Fatalf("JWKS %v, want the first key %s alone", got, k0)
		}
	}

	// Rotate: the next key is published everywhere within a second, and
	// signs nothing yet.
	out := keelCmd("keys", "rotate")
	k1 := strings.Fields(out)[1]
	rotated := time.Now()
	within(1500*time.Millisecond, "the next key published", func(p *proc) bool { return slices.Contains(published(p), k1) })
	for _, p := range ps {
		if kid := kidOf(t, mint(p)); kid != k0 && time.Since(rotated) < 2*time.Second {
			t.Errorf("a token signed with %s before the next key was published for JWKS_MAX_AGE", kid)
		}
	}
	// After JWKS_MAX_AGE (and the two seconds replicas are given to hear of
	// it) every replica signs with the new key; the old key's tokens and
	// the refresh tokens keep working.
	within(10*time.Second, "the next key signs", func(p *proc) bool { return kidOf(t, mint(p)) == k1 })
	if time.Since(rotated) < 2*time.Second {
		t.Errorf("the next key signed %v after it was added, before JWKS_MAX_AGE", time.Since(rotated))
	}
	for _, p := range ps {
		if code := profile(p, first.Token); code != 200 {
			t.Errorf("the old key's token: %d after the rotation", code)
		}
		if got := published(p); !slices.Contains(got, k0) || !slices.Contains(got, k1) {
			t.Errorf("JWKS %v after the rotation, want the retired %s and the current %s", got, k0, k1)
		}
	}
	first = refresh(ps[len(ps)-1], first.RefreshToken)
	if kidOf(t, first.Token) != k1 {
		t.Errorf("a refreshed token is not signed with the current key")
	}
	list := keelCmd("keys", "list")
	if !regexpLine(list, k0, "retired") || !regexpLine(list, k1, "current") {
		t.Errorf("keel keys list:\n%s", list)
	}

	// Revoke the current key: every replica refuses its tokens (even ones
	// it had verified and cached) within a second, and signs with a fresh
	// key that every other replica takes at once.
	cached := login(ps[0])
	for _, p := range ps {
		if code := profile(p, cached.Token); code != 200 {
			t.Fatalf("before the revocation: %d", code)
		}
	}
	keelCmd("keys", "revoke", k1)
	within(time.Second+500*time.Millisecond, "the revoked key's token refused", func(p *proc) bool { return profile(p, cached.Token) == 401 })
	within(time.Second, "the revoked key unpublished", func(p *proc) bool { return !slices.Contains(published(p), k1) })
	fresh := refresh(ps[0], cached.RefreshToken)
	k2 := kidOf(t, fresh.Token)
	if k2 == k1 || k2 == k0 {
		t.Fatalf("after revoking %s the token is signed with %s", k1, k2)
	}
	for _, p := range ps {
		if code := profile(p, fresh.Token); code != 200 {
			t.Errorf("the fresh key's token on %s: %d", p.addr, code)
		}
	}

	// Keys are in the database: a restart signs with the same key and
	// takes the same tokens.
	if n == 1 {
		if err := ps[0].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := ps[0].wait(30 * time.Second); code != 0 {
			t.Fatalf("keel exited with %d", code)
		}
		ps[0] = startKeel(t, env)
		if code := profile(ps[0], fresh.Token); code != 200 {
			t.Errorf("after a restart the fresh key's token: %d", code)
		}
		if kid := kidOf(t, mint(ps[0])); kid != k2 {
			t.Errorf("after a restart signing with %s, want %s", kid, k2)
		}
	}
	for i, p := range ps {
		if s := p.stderr.String(); s != "" {
			t.Errorf("replica %d stderr:\n%s", i, s)
		}
	}
}

// kidOf is the kid in a JWT's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h struct{ Kid, Typ string }
	if err != nil || json.Unmarshal(b, &h) != nil || h.Typ != "at+jwt" {
		t.Fatalf("token header %s: %v", b, err)
	}
	return h.Kid
}

// regexpLine reports whether a line of out holds both words.
func regexpLine(out, a, b string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); slices.Contains(f, a) && slices.Contains(f, b) {
			return true
		}
	}
	return false
}

// TestUpgradeFromHS256: an install that has users and no signing key stays
// on HS256 with a warning while JWT_ALG is unset (its JWKS is empty); set to
// EdDSA, it makes a key and signs with it, and still takes the HS256 tokens
// it signed before, until they expire. A new install takes none.
func TestUpgradeFromHS256(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hc := checkedClient(t, 5*time.Second, nil)
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "keel.db"), "JWT_ALG": "HS256",
		"API_URL": "http://127.0.0.1:1"}
	restart := func(p *proc, alg string) *proc {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("keel exited with %d", code)
		}
		env["JWT_ALG"] = alg
		return startKeel(t, env)
	}
	algOf := func(tok string) string {
		b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var h struct{ Alg, Typ string }
		json.Unmarshal(b, &h)
		return h.Alg
	}
	login := func(p *proc) string {
		t.Helper()
		code, body, err := post(ctx, hc, p.url("/login"), creds("ada@example.com", "password123"))
		var tok struct{ Token string }
		if err != nil || code != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login: %d %s %v", code, body, err)
		}
		return tok.Token
	}
	jwks := func(p *proc) string {
		res, err := hc.Get(p.url("/.well-known/jwks.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return strings.TrimSpace(b.String())
	}

	p := startKeel(t, env)
	if code, body, err := post(ctx, hc, p.url("/register"), creds("ada@example.com", "password123")); err != nil || code != 201 {
		t.Fatalf("register: %d %s %v", code, body, err)
	}
	p = restart(p, "")
	if !strings.Contains(p.stdout.String(), "JWT_ALG is not set and this database has users but no signing key") {
		t.Errorf("no warning that the install stays on HS256:\n%s", p.stdout)
	}
	old := login(p)
	if algOf(old) != "HS256" || jwks(p) != `{"keys":[]}` {
		t.Fatalf("an upgraded install without JWT_ALG: a %s token, JWKS %s", algOf(old), jwks(p))
	}

	p = restart(p, "EdDSA")
	if got := algOf(login(p)); got != "EdDSA" {
		t.Errorf("with JWT_ALG=EdDSA the token is %s", got)
	}
	if code, _, _ := getProfile(ctx, hc, p, old); code != 200 {
		t.Errorf("an HS256 token of before the switch: %d, want 200 until it expires", code)
	}
	if strings.Contains(jwks(p), `"keys":[]`) {
		t.Errorf("JWKS %s after the switch", jwks(p))
	}
	// Unset again: the current key's algorithm, not HS256.
	p = restart(p, "")
	if got := algOf(login(p)); got != "EdDSA" {
		t.Errorf("JWT_ALG unset after the switch: a %s token", got)
	}
}

// TestNewInstallRefusesHS256: a new install signs with its keys from the
// start and takes no HS256 token, not even one made with its own
// JWT_SECRET in every other way right (the session, typ, iss, aud): only an
// install that had users before its first key opens the HS256 window.
func TestNewInstallRefusesHS256(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hc := checkedClient(t, 5*time.Second, nil)
	p := startKeel(t, map[string]string{"API_URL": "http://127.0.0.1:1"})
	if code, body, err := post(ctx, hc, p.url("/register"), creds("ada@example.com", "password123")); err != nil || code != 201 {
		t.Fatalf("register: %d %s %v", code, body, err)
	}
	code, body, err := post(ctx, hc, p.url("/login"), creds("ada@example.com", "password123"))
	var pair struct{ Token string }
	if err != nil || code != 200 || json.Unmarshal(body, &pair) != nil {
		t.Fatalf("login: %d %s %v", code, body, err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(pair.Token, claims); err != nil {
		t.Fatal(err)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	forged.Header["typ"] = "at+jwt"
	tok, err := forged.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := getProfile(ctx, hc, p, pair.Token); code != 200 {
		t.Fatalf("keel's own token: %d", code)
	}
	if code, _, _ := getProfile(ctx, hc, p, tok); code != 401 {
		t.Errorf("an HS256 token made with JWT_SECRET on a new install: %d, want 401", code)
	}
}
