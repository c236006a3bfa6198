package token

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "test-secret-0123456789abcdef0123456789"

// fixedClock is a settable clock, on whole seconds (JWT claims are).
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func newTestIssuer() (*Issuer, *fixedClock) {
	c := &fixedClock{t: time.Unix(1_800_000_000, 0)}
	return New([]byte(testSecret), 15*time.Minute, c.now), c
}

// sign makes a token with the given method, key and claims.
func sign(t *testing.T, m jwt.SigningMethod, key any, c claims) string {
	t.Helper()
	j := jwt.NewWithClaims(m, c)
	j.Header["typ"] = Type
	s, err := j.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueVerify(t *testing.T) {
	t.Parallel()
	iss, clock := newTestIssuer()
	p := Principal{UserID: 42, SessionID: NewSessionID(), AAL: "aal2", AMR: "pwd otp mfa", Level: 3}
	raw, err := iss.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := iss.Verify(raw); err != nil || got != p {
		t.Fatalf("Verify: %+v, %v; want %+v", got, err, p)
	}
	if iss.TTL() != 15*time.Minute {
		t.Errorf("TTL %v", iss.TTL())
	}
	// Past the TTL and the leeway, even a token in the verified cache fails.
	clock.t = clock.t.Add(15*time.Minute + Leeway + time.Second)
	if _, err := iss.Verify(raw); err == nil {
		t.Error("an expired token from the cache was accepted")
	}
}

// TestForgeries: only a token keel signed, with HS256 and every claim it
// requires, is accepted.
func TestForgeries(t *testing.T) {
	t.Parallel()
	iss, clock := newTestIssuer()
	secret := []byte(testSecret)
	now := clock.t
	valid := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "keel", Subject: "7",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, Audience: DefaultAudience, SessionID: NewSessionID()}
	with := func(f func(*claims)) claims { c := valid; f(&c); return c }
	good, err := iss.Issue(Principal{UserID: 7, SessionID: valid.SessionID})
	if err != nil {
		t.Fatal(err)
	}
	other := with(func(c *claims) { c.Subject = "8" })

	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"issued", good, true},
		{"signed by the test", sign(t, jwt.SigningMethodHS256, secret, valid), true},
		{"not a JWT", "not-a-token", false},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef012"), valid), false},
		{"flipped signature", flipSignature(t, good), false},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, secret, valid), false},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), false},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })), false},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.ExpiresAt = nil })), false},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Issuer = "evil" })), false},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Audience = "kc_app" })), false},
		{"no audience", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Audience = "" })), false},
		{"wrong typ", signTyp(t, "JWT", valid), false},
		{"no typ", signTyp(t, "", valid), false},
		{"typ in capitals", signTyp(t, "AT+JWT", valid), true},
		{"typ as media type", signTyp(t, "application/at+jwt", valid), true},
		{"no subject", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Subject = "" })), false},
		{"subject not a number", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Subject = "ada" })), false},
		{"subject zero", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Subject = "0" })), false},
		{"tampered payload", tamper(t, good, other), false},
		{"tampered expiry", tamper(t, good, with(func(c *claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Hour)) })), false},
		{"no session id", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.SessionID = "" })), false},
		{"session id too long", sign(t, jwt.SigningMethodHS256, secret, with(func(c *claims) { c.SessionID = strings.Repeat("s", 65) })), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second may come from the verified-token cache.
			for range 2 {
				if _, err := iss.Verify(tt.raw); (err == nil) != tt.ok {
					t.Fatalf("Verify: %v, want ok=%v", err, tt.ok)
				}
			}
		})
	}
}

// TestTokenTimes: a little clock skew is forgiven; a token from the future
// (nbf or iat) or just past its expiry beyond the leeway is not.
func TestTokenTimes(t *testing.T) {
	t.Parallel()
	iss, clock := newTestIssuer()
	now := clock.t
	signAt := func(iat, nbf, exp time.Duration) string {
		c := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "keel", Subject: strconv.Itoa(1),
			IssuedAt: jwt.NewNumericDate(now.Add(iat)), ExpiresAt: jwt.NewNumericDate(now.Add(exp))}, Audience: DefaultAudience, SessionID: NewSessionID()}
		if nbf != 0 {
			c.NotBefore = jwt.NewNumericDate(now.Add(nbf))
		}
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), c)
	}
	tests := []struct {
		name          string
		iat, nbf, exp time.Duration
		ok            bool
	}{
		{"expired 10s ago, within leeway", -time.Hour, 0, -10 * time.Second, true},
		{"expired 2m ago", -time.Hour, 0, -2 * time.Minute, false},
		{"not valid for 10s, within leeway", 0, 10 * time.Second, time.Hour, true},
		{"not valid for 5m", 0, 5 * time.Minute, time.Hour, false},
		{"issued 5m in the future", 5 * time.Minute, 0, time.Hour, false},
		// The leeway is 30 s, no more: each claim a second either side of it.
		{"expired 29s ago", -time.Hour, 0, -29 * time.Second, true},
		{"expired 31s ago", -time.Hour, 0, -31 * time.Second, false},
		{"not valid for 29s", 0, 29 * time.Second, time.Hour, true},
		{"not valid for 31s", 0, 31 * time.Second, time.Hour, false},
		{"issued 29s in the future", 29 * time.Second, 0, time.Hour, true},
		{"issued 31s in the future", 31 * time.Second, 0, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := iss.Verify(signAt(tt.iat, tt.nbf, tt.exp)); (err == nil) != tt.ok {
				t.Errorf("Verify: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// signTyp is an HS256 token with the secret and the header typ (none when empty).
func signTyp(t *testing.T, typ string, c claims) string {
	t.Helper()
	j := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	delete(j.Header, "typ")
	if typ != "" {
		j.Header["typ"] = typ
	}
	s, err := j.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamper gives the token the payload c and keeps its signature.
func tamper(t *testing.T, tok string, c claims) string {
	t.Helper()
	j := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	j.Header["typ"] = Type
	forged, err := j.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return forged + "." + strings.Split(tok, ".")[2]
}

// flipSignature flips one bit of the token's signature, in the decoded MAC
// rather than in its base64 text, whose last character carries padding bits
// a decoder may ignore.
func flipSignature(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// benchSession is a session id for the benchmarks.
var benchSession = NewSessionID()

func BenchmarkTokenIssue(b *testing.B) {
	tk := New([]byte(testSecret), time.Hour, time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tk.Issue(Principal{UserID: 42, SessionID: benchSession}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkTokenVerify(b *testing.B) {
	tk := New([]byte(testSecret), time.Hour, time.Now)
	raw, err := tk.Issue(Principal{UserID: 42, SessionID: benchSession})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if id, err := tk.Verify(raw); err != nil || id.UserID != 42 {
				b.Error(id, err)
				return
			}
		}
	})
}

// TestAssuranceClaims: aal is a string claim and amr an array of RFC 8176
// methods, as OpenID Connect has them; lvl the session's level generation.
func TestAssuranceClaims(t *testing.T) {
	t.Parallel()
	iss, _ := newTestIssuer()
	raw, err := iss.Issue(Principal{UserID: 1, SessionID: NewSessionID(), AAL: "aal2", AMR: "pwd otp mfa", Level: 2})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AAL string   `json:"aal"`
		AMR []string `json:"amr"`
		Lvl int64    `json:"lvl"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.AAL != "aal2" || strings.Join(c.AMR, ",") != "pwd,otp,mfa" || c.Lvl != 2 {
		t.Errorf("claims %s: %+v, %v", payload, c, err)
	}
}

// TestIssueBefore: a limit before the TTL's end is the token's exp (to the
// second, never later); a later or zero limit leaves the TTL.
func TestIssueBefore(t *testing.T) {
	t.Parallel()
	iss, clock := newTestIssuer()
	now := clock.now()
	p := Principal{UserID: 1, SessionID: NewSessionID()}
	for _, tt := range []struct {
		name  string
		limit time.Time
		want  time.Duration
	}{
		{"no limit", time.Time{}, 15 * time.Minute},
		{"a later limit", now.Add(time.Hour), 15 * time.Minute},
		{"an earlier limit", now.Add(5 * time.Minute), 5 * time.Minute},
	} {
		raw, ttl, err := iss.IssueBefore(p, tt.limit)
		if err != nil || ttl != tt.want {
			t.Errorf("%s: lifetime %v, %v; want %v", tt.name, ttl, err, tt.want)
		}
		_, exp, err := iss.VerifyUntil(raw)
		if err != nil || exp.After(now.Add(tt.want)) || exp.Before(now.Add(tt.want-time.Second)) {
			t.Errorf("%s: exp %v, %v; want %v to the second", tt.name, exp, err, now.Add(tt.want))
		}
	}
}

// TestVerifiedCacheBound: past maxVerified tokens the cache sheds a quarter,
// not everything, so a replica serving more distinct tokens than the bound
// still finds most of them cached.
func TestVerifiedCacheBound(t *testing.T) {
	t.Parallel()
	iss, _ := newTestIssuer()
	for i := range maxVerified + 1 {
		tok, err := iss.Issue(Principal{UserID: int64(i + 1), SessionID: NewSessionID()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iss.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	iss.mu.RLock()
	n := len(iss.verified)
	iss.mu.RUnlock()
	if want := maxVerified - maxVerified/4 + 1; n != want {
		t.Errorf("%d tokens cached after %d verified, want %d", n, maxVerified+1, want)
	}
}

// TestExtraClaims: claims from app_metadata (internal/claims) ride in the
// token beside keel's, which they never replace, and the token verifies as
// any other.
func TestExtraClaims(t *testing.T) {
	t.Parallel()
	iss, _ := newTestIssuer()
	p := Principal{UserID: 3, SessionID: NewSessionID(), AAL: "aal1", AMR: "pwd"}
	extra := map[string]any{"roles": []string{"editor"}, "tenant": json.RawMessage(`{"id":7}`), "sub": "99", "aal": "aal2"}
	raw, _, err := iss.IssueWith(p, time.Time{}, extra)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub    string          `json:"sub"`
		AAL    string          `json:"aal"`
		Roles  []string        `json:"roles"`
		Tenant json.RawMessage `json:"tenant"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub != "3" || c.AAL != "aal1" ||
		strings.Join(c.Roles, ",") != "editor" || string(c.Tenant) != `{"id":7}` {
		t.Errorf("claims %s: %+v, %v", payload, c, err)
	}
	if got, err := iss.Verify(raw); err != nil || got != p {
		t.Errorf("Verify: %+v, %v; want %+v", got, err, p)
	}
}
