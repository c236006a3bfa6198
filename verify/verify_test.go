package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/verify"
)

// TestVerify checks, for tokens signed with each of keel's algorithms, what
// Verify accepts and what it refuses: the attacks (alg none, HS256 signed
// with a public key, another key's algorithm) and every claim a keel access
// token must carry.
func TestVerify(t *testing.T) {
	t.Parallel()
	ed, ec, rs := keys()
	keel := newFakeKeel(ed, ec, rs)
	t.Cleanup(keel.Close)
	clk := newClock()
	v, err := verify.New(context.Background(), keel.URL, verify.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	rsaPub, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})

	// signed returns a token of key with its header and claims changed by
	// edit (nil: a good token).
	signed := func(key signingKey, edit func(h, c map[string]any)) string {
		h, c := header(key), claims(keel.URL, now)
		if edit != nil {
			edit(h, c)
		}
		return mint(key.priv, h, c)
	}
	cases := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"EdDSA", signed(ed, nil), nil},
		{"ES256", signed(ec, nil), nil},
		{"RS256", signed(rs, nil), nil},
		{"typ in capitals", signed(ed, func(h, c map[string]any) { h["typ"] = "AT+JWT" }), nil},
		{"typ as a media type", signed(ed, func(h, c map[string]any) { h["typ"] = "application/at+jwt" }), nil},
		{"aud an array containing keel", signed(ed, func(h, c map[string]any) { c["aud"] = []string{"other", "keel"} }), nil},
		{"expired within the leeway", signed(ed, func(h, c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() }), nil},

		{"alg none", mint(nil, map[string]any{"alg": "none", "typ": "at+jwt", "kid": ed.kid}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"HS256 with the Ed25519 public key", mint([]byte(ed.priv.Public().(ed25519.PublicKey)),
			map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": ed.kid}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"HS256 with the RSA public key's PEM", mint(rsaPEM,
			map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": rs.kid}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"HS256 without kid", mint(rsaPEM, map[string]any{"alg": "HS256", "typ": "at+jwt"}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"another key's alg", mint(ec.priv, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": ed.kid}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"RS256 named with the EdDSA key's kid", mint(rs.priv, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": ed.kid}, claims(keel.URL, now)), verify.ErrInvalidToken},
		{"signed by another key under a known kid", mint(otherEdKey.priv, header(ed), claims(keel.URL, now)), verify.ErrInvalidToken},
		{"payload changed after signing", tamper(signed(ed, nil)), verify.ErrInvalidToken},
		{"no kid", signed(ed, func(h, c map[string]any) { delete(h, "kid") }), verify.ErrInvalidToken},
		{"typ JWT", signed(ed, func(h, c map[string]any) { h["typ"] = "JWT" }), verify.ErrInvalidToken},
		{"no typ", signed(ed, func(h, c map[string]any) { delete(h, "typ") }), verify.ErrInvalidToken},
		{"typ of an ID token", signed(ed, func(h, c map[string]any) { h["typ"] = "id_token+jwt" }), verify.ErrInvalidToken},
		{"wrong iss", signed(ed, func(h, c map[string]any) { c["iss"] = "keel" }), verify.ErrInvalidToken},
		{"iss with a trailing slash", signed(ed, func(h, c map[string]any) { c["iss"] = keel.URL + "/" }), verify.ErrInvalidToken},
		{"no iss", signed(ed, func(h, c map[string]any) { delete(c, "iss") }), verify.ErrInvalidToken},
		{"wrong aud", signed(ed, func(h, c map[string]any) { c["aud"] = "other" }), verify.ErrInvalidToken},
		{"aud an array without keel", signed(ed, func(h, c map[string]any) { c["aud"] = []string{"a", "b"} }), verify.ErrInvalidToken},
		{"no aud", signed(ed, func(h, c map[string]any) { delete(c, "aud") }), verify.ErrInvalidToken},
		{"expired", signed(ed, func(h, c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() }), verify.ErrExpired},
		{"no exp", signed(ed, func(h, c map[string]any) { delete(c, "exp") }), verify.ErrInvalidToken},
		{"issued in the future", signed(ed, func(h, c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }), verify.ErrInvalidToken},
		{"no iat", signed(ed, func(h, c map[string]any) { delete(c, "iat") }), verify.ErrInvalidToken},
		{"no sub", signed(ed, func(h, c map[string]any) { delete(c, "sub") }), verify.ErrInvalidToken},
		{"sub a number", signed(ed, func(h, c map[string]any) { c["sub"] = 42 }), verify.ErrInvalidToken},
		{"unknown kid", signed(otherEdKey, nil), verify.ErrInvalidToken},
		{"crit header (RFC 7515 §4.1.11)", signed(ed, func(h, c map[string]any) { h["crit"] = []string{"exp"} }), verify.ErrInvalidToken},
		{"another key in jwk, under a known kid", mint(otherEdKey.priv, func() map[string]any {
			h := header(ed)
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(otherEdKey.priv.Public().(ed25519.PublicKey))}
			return h
		}(), claims(keel.URL, now)), verify.ErrInvalidToken},
		{"not a JWT", "hello", verify.ErrInvalidToken},
		{"empty", "", verify.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tc.token)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || got != nil {
					t.Fatalf("Verify = %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != "42" || got.SessionID != "s-1" || got.AAL != "aal1" || !slices.Equal(got.AMR, []string{"pwd"}) ||
				!got.IssuedAt.Equal(now) || got.ExpiresAt.IsZero() || got.Raw["lvl"] != 1.0 {
				t.Errorf("claims = %+v", got)
			}
		})
	}
}

// tamper changes a token's payload and keeps its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = parts[1][:len(parts[1])-2] + "xx"
	return strings.Join(parts, ".")
}

// TestVerifyOptions checks the audience and leeway options.
func TestVerifyOptions(t *testing.T) {
	t.Parallel()
	ed, _, _ := keys()
	keel := newFakeKeel(ed)
	t.Cleanup(keel.Close)
	clk := newClock()
	now := clk.Now()
	other := claims(keel.URL, now)
	other["aud"] = "api"
	late := claims(keel.URL, now)
	late["exp"] = now.Add(-5 * time.Second).Unix()
	cases := []struct {
		name   string
		opts   []verify.Option
		claims map[string]any
		want   error
	}{
		{"audience set, token for it", []verify.Option{verify.WithAudience("api")}, other, nil},
		{"audience set, token for keel", []verify.Option{verify.WithAudience("api")}, claims(keel.URL, now), verify.ErrInvalidToken},
		{"default audience, token for another", nil, other, verify.ErrInvalidToken},
		{"leeway 0, expired 5s ago", []verify.Option{verify.WithLeeway(0)}, late, verify.ErrExpired},
		{"leeway 10s, expired 5s ago", []verify.Option{verify.WithLeeway(10 * time.Second)}, late, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(context.Background(), keel.URL, append(tc.opts, verify.WithClock(clk.Now))...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), mint(ed.priv, header(ed), tc.claims))
			if (tc.want == nil && err != nil) || !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v; want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyRoles: a token's roles (from the user's app_metadata) are
// Claims.Roles; a token without them has none, and the other listed claims
// are in Raw.
func TestVerifyRoles(t *testing.T) {
	t.Parallel()
	ed, ec, rs := keys()
	keel := newFakeKeel(ed, ec, rs)
	t.Cleanup(keel.Close)
	clk := newClock()
	v, err := verify.New(context.Background(), keel.URL, verify.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	c := claims(keel.URL, clk.Now())
	c["roles"], c["tenant"] = []string{"editor", "billing"}, "acme"
	got, err := v.Verify(context.Background(), mint(ed.priv, header(ed), c))
	if err != nil || !slices.Equal(got.Roles, []string{"editor", "billing"}) || got.Raw["tenant"] != "acme" {
		t.Errorf("Verify = %+v, %v; want roles editor, billing and the tenant in Raw", got, err)
	}
	got, err = v.Verify(context.Background(), mint(ed.priv, header(ed), claims(keel.URL, clk.Now())))
	if err != nil || got.Roles != nil {
		t.Errorf("Verify without roles = %+v, %v; want no roles", got, err)
	}
}
