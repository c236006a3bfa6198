package server

// The OpenID Provider's token endpoint (internal/provider, pkg/op) through
// the real router: a machine's client_credentials token, and a grant's
// refresh, beside GET /profile (BenchmarkGetProfile). Both sign with RS256
// (OpenID Connect requires it of a provider), which is most of their cost.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
)

// newBenchOP is a benchAPI that is an OpenID Provider: its key ring keeps
// an RS256 key beside the EdDSA one, as cmd/keel's does.
func newBenchOP(b *testing.B) *benchAPI {
	b.Helper()
	return newBenchAPIAlg(b, "file", 4, keys.EdDSA, func(d *Deps) {
		ring, err := keys.Open(context.Background(), d.Store.(keys.Store), keys.Config{Alg: keys.EdDSA,
			Also: []string{keys.RS256}, KEK: []byte(testKEK), TokenTTL: testJWTTTL, Leeway: token.Leeway, MaxAge: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		d.Keys, d.Tokens = ring, testTokens(ring, testJWTTTL, d.Now)
		d.Provider, err = provider.New(provider.Config{Issuer: testIssuer, AccessTTL: testJWTTTL, RefreshTTL: 720 * time.Hour,
			Insecure: true, KeelAudience: token.DefaultAudience}, provider.Deps{Store: d.Store.(provider.Store), Accounts: d.Store,
			Clients: d.Store.(clients.Store), Keys: ring, Refresh: d.Refresh, Tokens: d.Tokens, Log: d.Log, Now: d.Now})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// benchClient registers a client.
func (a *benchAPI) benchClient(r clients.Registration) (clients.Client, string) {
	a.b.Helper()
	c, secret, err := clients.Register(r, time.Now())
	if err == nil {
		err = a.store.(clients.Store).CreateClient(context.Background(), c)
	}
	if err != nil {
		a.b.Fatal(err)
	}
	return c, secret
}

// tokenRequest is a POST to the provider's token endpoint as client id.
func tokenRequest(form url.Values, id, secret string) request {
	return request{method: "POST", path: provider.PathToken, body: form.Encode(), hdr: []string{
		"Content-Type", "application/x-www-form-urlencoded",
		"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}}
}

// BenchmarkProviderToken is the token endpoint: grant=client_credentials, a
// machine's token (authentication, one RS256 signature, the client's use
// recorded); grant=refresh_token, a grant's refresh with scope "openid
// offline_access" (the grant's session read and rotated in one statement,
// the consent read, an access token and an ID token signed). Each
// goroutine refreshes a grant of its own, with the refresh token the last
// answer gave it, as a client does.
func BenchmarkProviderToken(b *testing.B) {
	b.Run("grant=client_credentials", func(b *testing.B) {
		a := newBenchOP(b)
		c, secret := a.benchClient(clients.Registration{Name: "Cron", GrantTypes: []string{clients.GrantClientCredentials},
			Scopes: []string{clients.ScopeAdmin}})
		benchRoute(b, a.srv, http.StatusOK, fixed(tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, c.ID, secret)))
	})
	b.Run("grant=refresh_token", func(b *testing.B) {
		a := newBenchOP(b)
		c, secret := a.benchClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
		ctx, now := context.Background(), time.Now()
		if err := a.store.(provider.Store).SaveConsent(ctx, a.user, c.ID, []string{"openid", "offline_access"}, now); err != nil {
			b.Fatal(err)
		}
		// A grant per goroutine (RunParallel runs GOMAXPROCS of them).
		grants := make([]string, 64)
		for i := range grants {
			sid := token.NewSessionID()
			grants[i] = a.srv.refresh.Refresh(sid, 1)
			if err := a.store.CreateSession(ctx, db.Session{ID: sid, UserID: a.user, ClientID: c.ID, CreatedAt: now, LastUsedAt: now,
				AuthTime: now, Generation: 1, RefreshHash: db.HashToken(grants[i]), RotatedAt: now,
				RefreshExpiresAt: now.Add(720 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		refresh := func(tok string) (string, int) {
			rec := httptest.NewRecorder()
			a.srv.ServeHTTP(rec, tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}, c.ID, secret).build())
			var out struct {
				RefreshToken string `json:"refresh_token"`
				IDToken      string `json:"id_token"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.RefreshToken == "" || out.IDToken == "" {
				return tok, rec.Code
			}
			return out.RefreshToken, rec.Code
		}
		// One refresh first, so a wrong answer fails fast.
		var code int
		if grants[0], code = refresh(grants[0]); code != http.StatusOK {
			b.Fatalf("refresh: %d", code)
		}
		var bad atomic.Int64
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuPerOp(b)
		b.RunParallel(func(pb *testing.PB) {
			tok := grants[next.Add(1)-1]
			for pb.Next() {
				var code int
				if tok, code = refresh(tok); code != http.StatusOK {
					bad.Add(1)
				}
			}
		})
		b.StopTimer()
		cpu()
		if n := bad.Load(); n > 0 {
			b.Fatalf("%d of %d refreshes failed", n, b.N)
		}
	})
}
