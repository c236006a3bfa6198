package main

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/verify"
)

// issuer is a running keel that signs with published keys, as a service
// behind it sees it: the issuer URL alone (API_URL, replica 0's address),
// and what the tests need besides: each replica's URL, the environment the
// keys CLI runs with (the same database), a signed-up user.
type issuer struct {
	url      string
	replicas []string
	env      map[string]string
	hc       *http.Client
	user     string // the signed-up user's id
}

// startIssuer runs keel signing with alg and JWKS_MAX_AGE of a second: one
// replica on SQLite, or two on one PostgreSQL database; and signs up a user.
// The ports are picked beforehand so that API_URL, the issuer a verifier is
// given, is replica 0's own address.
func startIssuer(t *testing.T, alg string, postgres bool) *issuer {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL": filepath.Join(t.TempDir(), "data", "keel.db"),
		"JWT_ALG":      alg,
		"JWKS_MAX_AGE": "1s",
		"BCRYPT_COST":  "4",
		// Off: each token the test asks for is a sign-in.
		"AUTH_RATE_LIMIT": "0",
	}
	n := 1
	if postgres {
		n = 2
		env["DATABASE_URL"] = pgtest.NewDatabase(t)
		env["JWT_SECRET"], env["KEYS_KEK"] = testSecret, testKEK
	}
	is := &issuer{env: env, hc: checkedClient(t, 10*time.Second, nil)}
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
		is.replicas = append(is.replicas, "http://"+addrs[i])
	}
	is.url = is.replicas[0]
	env["API_URL"] = is.url
	for _, addr := range addrs {
		replica := maps.Clone(env)
		replica["ADDR"] = addr
		start(t, replica)
	}
	code, body, err := post(t.Context(), is.hc, is.url+"/register", creds("ada@example.com", "password123"))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %s %v", code, body, err)
	}
	var reg struct{ ID int64 }
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	is.user = strconv.FormatInt(reg.ID, 10)
	return is
}

// token signs in again on replica i and returns a new access token.
func (is *issuer) token(t *testing.T, i int) string {
	t.Helper()
	code, body, err := post(t.Context(), is.hc, is.replicas[i]+"/login", creds("ada@example.com", "password123"))
	var login struct{ Token string }
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &login) != nil {
		t.Fatalf("login: %d %s %v", code, body, err)
	}
	return login.Token
}

// keys runs `keel keys ARGS` on the issuer's database, as an operator would
// (on SQLite another process's change reaches the server by its version
// row, read every second; on PostgreSQL by a notification).
func (is *issuer) keys(t *testing.T, args ...string) string {
	t.Helper()
	var out syncBuffer
	if err := run(t.Context(), append([]string{"keys"}, args...), func(k string) string { return is.env[k] }, &out); err != nil {
		t.Fatalf("keel keys %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// profileStatus is replica i's answer to GET /profile with token.
func (is *issuer) profileStatus(t *testing.T, i int, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, is.replicas[i]+"/profile", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := is.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// eventually calls f every 100 ms until it returns nil, and fails the test
// with its last error after d.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVerifyRealKeel: a service that knows only keel's issuer URL verifies
// keel's real access tokens with the verify package, for each algorithm;
// a verifier for another audience refuses them. With EdDSA, on SQLite and on
// two PostgreSQL replicas, across `keel keys rotate` (the new key's tokens
// from every replica verify, the old key's still do) and `keel keys revoke`
// (the revoked key's tokens are refused by the verifier once the JWKS's
// max-age has passed, and by every replica; the others still pass), with
// nothing restarted.
func TestVerifyRealKeel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		alg       string
		postgres  bool
		lifecycle bool // rotate, then revoke
	}{
		{"EdDSA", "EdDSA", false, true},
		{"ES256", "ES256", false, false},
		{"RS256", "RS256", false, false},
		{"EdDSA, two PostgreSQL replicas", "EdDSA", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			is := startIssuer(t, tc.alg, tc.postgres)
			v, err := verify.New(t.Context(), is.url, verify.WithRefetchInterval(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			var first []string // a token of each replica
			for i := range is.replicas {
				tok := is.token(t, i)
				first = append(first, tok)
				c, err := v.Verify(t.Context(), tok)
				if err != nil {
					t.Fatalf("replica %d's token: %v", i, err)
				}
				if c.Subject != is.user || c.SessionID == "" || c.AAL != "aal1" || !slices.Contains(c.AMR, "pwd") ||
					c.ExpiresAt.Before(time.Now()) || c.Raw["iss"] != is.url {
					t.Errorf("replica %d's claims: %+v", i, c)
				}
			}
			other, err := verify.New(t.Context(), is.url, verify.WithAudience("another-api"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Verify(t.Context(), first[0]); !errors.Is(err, verify.ErrInvalidToken) {
				t.Errorf("a verifier for another audience: %v", err)
			}
			if !tc.lifecycle {
				return
			}

			// Rotation: a next key is published, then signs on every replica
			// after JWKS_MAX_AGE.
			firstKid := kidOf(t, first[0])
			is.keys(t, "rotate")
			second := make([]string, len(is.replicas))
			for i := range is.replicas {
				eventually(t, 10*time.Second, "a token with the rotated key", func() error {
					second[i] = is.token(t, i)
					if kidOf(t, second[i]) == firstKid {
						return errors.New("replica " + strconv.Itoa(i) + " still signs with " + firstKid)
					}
					return nil
				})
			}
			for _, tok := range append(slices.Clone(second), first...) {
				if _, err := v.Verify(t.Context(), tok); err != nil {
					t.Errorf("after the rotation, a token of key %s: %v", kidOf(t, tok), err)
				}
			}

			// Revocation of the signing key: its tokens are refused once the
			// verifier's copy of the JWKS is older than its max-age (1 s), and
			// by every replica within a second; the retired key's still pass,
			// and the key that signs next verifies.
			secondKid := kidOf(t, second[0])
			is.keys(t, "revoke", secondKid)
			eventually(t, 5*time.Second, "the revoked key's tokens refused", func() error {
				for _, tok := range second {
					if _, err := v.Verify(t.Context(), tok); !errors.Is(err, verify.ErrInvalidToken) {
						return errors.New("verify: still accepted")
					}
					for i := range is.replicas {
						if code := is.profileStatus(t, i, tok); code != http.StatusUnauthorized {
							return errors.New("replica " + strconv.Itoa(i) + ": GET /profile " + strconv.Itoa(code))
						}
					}
				}
				return nil
			})
			for _, tok := range first {
				if _, err := v.Verify(t.Context(), tok); err != nil {
					t.Errorf("after the revocation, the retired key's token: %v", err)
				}
			}
			third := is.token(t, len(is.replicas)-1)
			if k := kidOf(t, third); k == secondKid {
				t.Errorf("keel still signs with the revoked key %s", k)
			}
			eventually(t, 5*time.Second, "the key that signs after the revocation verified", func() error {
				_, err := v.Verify(t.Context(), third)
				return err
			})
		})
	}
}

// pythonWithJWT is a python3 that imports PyJWT (Debian's python3-jwt: the
// system python3 first, which a python3 earlier on PATH may not be). The
// test skips without one, except in CI, where it must run.
func pythonWithJWT(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import jwt, cryptography").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with PyJWT and cryptography (apt-get install python3-jwt)")
	}
	t.Skip("no python3 with PyJWT and cryptography (apt-get install python3-jwt)")
	return ""
}

// TestVerifyFromPython: PyJWT's PyJWKClient (Debian's python3-jwt), given
// keel's issuer URL alone, verifies keel's real access tokens with
// examples/python/verify_token.py (signature, typ, iss, aud, exp), for each
// algorithm, and refuses them for another audience; with EdDSA, it refuses
// a revoked key's token once keel stops publishing the key.
func TestVerifyFromPython(t *testing.T) {
	t.Parallel()
	py := pythonWithJWT(t)
	script, err := filepath.Abs("../../examples/python/verify_token.py")
	if err != nil {
		t.Fatal(err)
	}
	// verifyPy runs the script; its output is the claims, or why it refused.
	verifyPy := func(t *testing.T, issuer, audience, token string) (map[string]any, string, error) {
		cmd := exec.CommandContext(t.Context(), py, script, issuer, audience, token)
		cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, stderr.String(), err
		}
		var claims map[string]any
		if err := json.Unmarshal([]byte(stdout.String()), &claims); err != nil {
			return nil, stdout.String(), err
		}
		return claims, "", nil
	}
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			is := startIssuer(t, alg, false)
			tok := is.token(t, 0)
			claims, why, err := verifyPy(t, is.url, "keel", tok)
			if err != nil {
				t.Fatalf("keel's token refused: %v %s", err, why)
			}
			if claims["sub"] != is.user || claims["iss"] != is.url || claims["aud"] != "keel" {
				t.Errorf("claims: %v", claims)
			}
			if _, why, err := verifyPy(t, is.url, "another-api", tok); err == nil || !strings.Contains(why, "InvalidAudienceError") {
				t.Errorf("another audience: %v %s", err, why)
			}
			if alg != "EdDSA" {
				return
			}
			is.keys(t, "revoke", kidOf(t, tok))
			eventually(t, 5*time.Second, "the revoked key's token refused", func() error {
				if _, why, err := verifyPy(t, is.url, "keel", tok); err == nil || !strings.Contains(why, "refused") {
					return errors.New("still verified " + why)
				}
				return nil
			})
		})
	}
}
