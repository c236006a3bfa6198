package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/token"
)

// TestJWKS: the published keys and the discovery document, as the spec
// says, with the cache lifetime JWKS_MAX_AGE gives, and a token's kid is
// one of the published keys.
func TestJWKS(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.JWKSMaxAge = 42 * time.Second })
	rec := a.status(a.do("GET", "/.well-known/jwks.json", ""), 200, "jwks")
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=42" {
		t.Errorf("JWKS Cache-Control %q", got)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", rec.Body, err)
	}
	k := set.Keys[0]
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kid"] == "" {
		t.Errorf("JWK %v", k)
	}
	if _, private := k["d"]; private {
		t.Error("the JWKS publishes a private key")
	}

	rec = a.status(a.do("GET", "/.well-known/openid-configuration", ""), 200, "discovery")
	var disc map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &disc); err != nil {
		t.Fatal(err)
	}
	if disc["issuer"] != testIssuer || disc["jwks_uri"] != testIssuer+"/.well-known/jwks.json" {
		t.Errorf("discovery %v", disc)
	}

	a.mustRegister("ada@example.com", "password123")
	h := header(t, a.mustLogin("ada@example.com", "password123"))
	if h["typ"] != "at+jwt" || h["alg"] != "EdDSA" || h["kid"] != k["kid"] {
		t.Errorf("token header %v; published key %v", h, k["kid"])
	}
}

// header decodes a JWT's header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTokenAttacks: keel's API takes only tokens of its own published keys
// with their own algorithm, of type at+jwt, for its issuer and audience;
// each attack gets 401 where the real token gets 200.
func TestTokenAttacks(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ada := a.mustRegister("ada@example.com", "password123")
	real := a.mustLogin("ada@example.com", "password123")
	sid := a.sessionOf(real)
	ring := a.srv.keys.(*keys.Ring)
	kid, _, priv := ring.Signer()
	pub := priv.Public().(ed25519.PublicKey)
	now := a.clock.Now()
	good := jwt.MapClaims{"iss": testIssuer, "aud": token.DefaultAudience, "sub": strconv.FormatInt(ada.ID, 10),
		"sid": sid, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "aal": "aal1", "amr": []string{"pwd"}}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for n, x := range good {
			c[n] = x
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, hdr map[string]any, c jwt.MapClaims) string {
		j := jwt.NewWithClaims(m, c)
		j.Header["typ"] = "at+jwt"
		j.Header["kid"] = kid
		for n, v := range hdr {
			if v == nil {
				delete(j.Header, n)
			} else {
				j.Header[n] = v
			}
		}
		s, err := j.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		tok  string
		want int
	}{
		{"keel's own token", real, 200},
		{"made with keel's key by the test", sign(jwt.SigningMethodEdDSA, priv, nil, good), 200},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, good), 401},
		{"HS256 signed with the public key (algorithm confusion)", sign(jwt.SigningMethodHS256, []byte(pub), nil, good), 401},
		{"HS256 signed with the public key's JWK text", sign(jwt.SigningMethodHS256, a.do("GET", "/.well-known/jwks.json", "").Body.Bytes(), nil, good), 401},
		{"HS256 signed with JWT_SECRET on an install with keys", sign(jwt.SigningMethodHS256, []byte(testSecret), map[string]any{"kid": nil}, good), 401},
		{"another Ed25519 key under keel's kid", sign(jwt.SigningMethodEdDSA, otherEd, nil, good), 401},
		{"ES256 under keel's kid", sign(jwt.SigningMethodES256, otherEC, nil, good), 401},
		{"unknown kid", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": "not-a-key"}, good), 401},
		{"no kid", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": nil}, good), 401},
		{"typ JWT (an ID token's)", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"typ": "JWT"}, good), 401},
		{"no typ", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"typ": nil}, good), 401},
		{"wrong iss", sign(jwt.SigningMethodEdDSA, priv, nil, with("iss", "keel")), 401},
		{"wrong aud (a client's)", sign(jwt.SigningMethodEdDSA, priv, nil, with("aud", "kc_app")), 401},
		{"aud as a list with keel's", sign(jwt.SigningMethodEdDSA, priv, nil, with("aud", []string{"kc_app", "keel"})), 401},
		{"no aud", sign(jwt.SigningMethodEdDSA, priv, nil, with("aud", nil)), 401},
		{"expired", sign(jwt.SigningMethodEdDSA, priv, nil, with("exp", now.Add(-time.Hour).Unix())), 401},
		// RFC 7515 §4.1.11: an extension keel does not understand, marked
		// critical, is refused, even under keel's own signature.
		{"crit header", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"crit": []string{"exp"}}, good), 401},
		// Keys named in the header are never fetched nor trusted: only kid.
		{"the attacker's key in jwk, no kid", sign(jwt.SigningMethodEdDSA, otherEd, map[string]any{"kid": nil,
			"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(otherEd.Public().(ed25519.PublicKey))}}, good), 401},
		{"the attacker's key in jwk under keel's kid", sign(jwt.SigningMethodEdDSA, otherEd, map[string]any{
			"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(otherEd.Public().(ed25519.PublicKey)), "kid": kid}}, good), 401},
		{"jku and x5u", sign(jwt.SigningMethodEdDSA, otherEd, map[string]any{"kid": nil, "jku": "http://127.0.0.1:1/jwks.json", "x5u": "http://127.0.0.1:1/cert.pem"}, good), 401},
		{"kid a path", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": "../../" + kid}, good), 401},
		{"kid 16 KiB long", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": strings.Repeat("k", 16<<10)}, good), 401},
		{"kid not a string", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": 1}, good), 401},
		{"empty kid", sign(jwt.SigningMethodEdDSA, priv, map[string]any{"kid": ""}, good), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer may come from the verified-token cache.
			for range 2 {
				a.status(a.do("GET", "/profile", "", bearer(tt.tok)...), tt.want, tt.name)
			}
		})
	}
}

// TestRevokedKey: revoking the key that signed a token refuses it at once,
// even from the verified-token cache, and the next token is signed by the
// fresh key; the refresh token still refreshes.
func TestRevokedKey(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")
	a.status(a.do("GET", "/profile", "", bearer(pair.Token)...), 200, "before the revocation")
	ring := a.srv.keys.(*keys.Ring)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); ring.Run(ctx) }()
	t.Cleanup(func() { stop(); <-ran })

	old, _, _ := ring.Signer()
	admin, err := keys.NewAdmin(a.store.(keys.Store), []byte(testKEK), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for ring.Published(old) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	a.status(a.do("GET", "/profile", "", bearer(pair.Token)...), 401, "a token of the revoked key")
	if strings.Contains(a.do("GET", "/.well-known/jwks.json", "").Body.String(), old) {
		t.Error("the revoked key is still published")
	}
	var fresh oapi.Token
	if err := json.Unmarshal(a.status(a.refresh(pair.RefreshToken), 200, "refresh").Body.Bytes(), &fresh); err != nil {
		t.Fatal(err)
	}
	if kid := header(t, fresh.Token)["kid"]; kid == old || kid == "" {
		t.Errorf("the refreshed token's kid %v", kid)
	}
	a.status(a.do("GET", "/profile", "", bearer(fresh.Token)...), 200, "a token of the fresh key")
}
