package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// This file plays keel: its own keys, a discovery document and a JWKS, and
// tokens minted (or forged) by hand so that any header can be tried.

// signingKey is one of the fake keel's keys.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	keysOnce                 sync.Once
	edKey, ecKey, rsaKey     signingKey
	otherEdKey, rotatedEdKey signingKey
)

// keys returns the test keys, made once (an RSA key takes a while).
func keys() (ed, ec, rs signingKey) {
	keysOnce.Do(func() {
		newEd := func(kid string) signingKey {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				panic(err)
			}
			return signingKey{kid: kid, alg: "EdDSA", priv: priv}
		}
		edKey, otherEdKey, rotatedEdKey = newEd("ed-1"), newEd("ed-other"), newEd("ed-2")
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ecKey = signingKey{kid: "ec-1", alg: "ES256", priv: ec}
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = signingKey{kid: "rs-1", alg: "RS256", priv: rs}
	})
	return edKey, ecKey, rsaKey
}

// fakeKeel serves /.well-known/openid-configuration and
// /.well-known/jwks.json like keel does.
type fakeKeel struct {
	*httptest.Server
	jwksHits atomic.Int64

	mu           sync.Mutex
	issuer       string // what discovery says; the server's URL unless set
	published    []signingKey
	cacheControl string
	age          string        // the Age header, as a cache in front of keel adds it
	jwksStatus   int           // answered instead of the set when not 0
	gate         chan struct{} // when not nil, the JWKS waits for it to close
}

func newFakeKeel(published ...signingKey) *fakeKeel {
	k := &fakeKeel{published: published, cacheControl: "public, max-age=300"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		iss := k.issuer
		k.mu.Unlock()
		if iss == "" {
			iss = k.URL
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": k.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		k.jwksHits.Add(1)
		k.mu.Lock()
		gate, status, cc, age := k.gate, k.jwksStatus, k.cacheControl, k.age
		set := jose.JSONWebKeySet{}
		for _, s := range k.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.priv.Public(), KeyID: s.kid, Algorithm: s.alg, Use: "sig"})
		}
		k.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if status != 0 {
			http.Error(w, "broken", status)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if age != "" {
			w.Header().Set("Age", age)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	k.Server = httptest.NewServer(mux)
	return k
}

// publish replaces the published keys.
func (k *fakeKeel) publish(keys ...signingKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.published = keys
}

func (k *fakeKeel) set(f func(k *fakeKeel)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// header and claims are a keel access token's, signed by k at now.
func header(k signingKey) map[string]any {
	return map[string]any{"alg": k.alg, "typ": "at+jwt", "kid": k.kid}
}

func claims(issuer string, now time.Time) map[string]any {
	return map[string]any{
		"iss": issuer, "aud": "keel", "sub": "42", "sid": "s-1",
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
		"aal": "aal1", "amr": []string{"pwd"}, "lvl": 1,
	}
}

// mint signs header and claims with key, by the header's alg: EdDSA,
// ES256, RS256 with a crypto.Signer, HS256 with a []byte secret, and
// "none" with nothing.
func mint(key any, hdr, cl map[string]any) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(hdr) + "." + enc(cl)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg := hdr["alg"]; alg {
	case "EdDSA":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), sum[:])
		err = e
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	case "HS256":
		mac := hmac.New(sha256.New, key.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "none":
	default:
		panic(fmt.Sprint("mint: alg ", alg))
	}
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
