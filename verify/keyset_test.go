package verify_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keelhq/keel/verify"
)

// errFetch in a step's want: an error that is not a refusal (the key set
// could not be fetched).
var errFetch = errors.New("fetch failed")

// TestKeySetCache runs sequences of tokens against a Verifier whose fake
// keel changes its key set, and counts the key set's fetches: an unknown kid
// is refetched at most once a refetch interval, a rotated key is picked up,
// a key removed from the set stops verifying once max-age has passed, and a
// failed fetch is an error, never a panic nor a silently kept stale set.
func TestKeySetCache(t *testing.T) {
	t.Parallel()
	ed, _, _ := keys()
	other, rotated := otherEdKey, rotatedEdKey
	type step struct {
		advance time.Duration   // the clock moves first
		do      func(*fakeKeel) // then keel changes
		key     signingKey      // the token's signer
		want    error           // nil, verify.ErrInvalidToken or errFetch
		fetches int64           // key set fetches so far, New's included
	}
	publish := func(keys ...signingKey) func(*fakeKeel) { return func(k *fakeKeel) { k.publish(keys...) } }
	age := func(seconds string) func(*fakeKeel) {
		return func(k *fakeKeel) { k.set(func(k *fakeKeel) { k.age = seconds }) }
	}
	status := func(code int) func(*fakeKeel) {
		return func(k *fakeKeel) { k.set(func(k *fakeKeel) { k.jwksStatus = code }) }
	}
	cases := []struct {
		name         string
		cacheControl string
		opts         []verify.Option
		steps        []step
	}{
		{"unknown kid: refetched once, then not again within the minute", "max-age=300", nil, []step{
			{key: other, want: verify.ErrInvalidToken, fetches: 1}, // New fetched just now
			{advance: time.Minute, key: other, want: verify.ErrInvalidToken, fetches: 2},
			{advance: 30 * time.Second, key: other, want: verify.ErrInvalidToken, fetches: 2},
			{advance: 29 * time.Second, key: other, want: verify.ErrInvalidToken, fetches: 2},
			{advance: time.Second, key: other, want: verify.ErrInvalidToken, fetches: 3},
			{key: ed, fetches: 3},
		}},
		{"rotated key picked up on its unknown kid", "max-age=300", nil, []step{
			{key: ed, fetches: 1},
			{advance: time.Minute, do: publish(ed, rotated), key: rotated, fetches: 2},
			{key: ed, fetches: 2},
		}},
		{"rotated key refused within a minute of the last fetch", "max-age=300", nil, []step{
			{advance: 10 * time.Second, do: publish(ed, rotated), key: rotated, want: verify.ErrInvalidToken, fetches: 1},
			{advance: 50 * time.Second, key: rotated, fetches: 2},
		}},
		{"refetch interval set", "max-age=300", []verify.Option{verify.WithRefetchInterval(time.Second)}, []step{
			{advance: time.Second, do: publish(ed, rotated), key: rotated, fetches: 2},
		}},
		{"key removed from the set refused after max-age", "public, max-age=5", nil, []step{
			{key: ed, fetches: 1},
			{advance: 4 * time.Second, do: publish(rotated), key: ed, fetches: 1},
			{advance: time.Second, key: ed, want: verify.ErrInvalidToken, fetches: 2},
			{key: rotated, fetches: 2},
		}},
		{"a cache's Age counts against max-age (RFC 9111 §4.2.3)", "public, max-age=5", nil, []step{
			{advance: 5 * time.Second, do: age("4"), key: ed, fetches: 2},
			{advance: time.Second, do: publish(rotated), key: ed, want: verify.ErrInvalidToken, fetches: 3},
		}},
		{"no max-age: kept for the default", "", []verify.Option{verify.WithDefaultMaxAge(10 * time.Second)}, []step{
			{advance: 9 * time.Second, do: publish(rotated), key: ed, fetches: 1},
			{advance: time.Second, key: ed, want: verify.ErrInvalidToken, fetches: 2},
		}},
		{"no-cache: kept a second", "no-cache", nil, []step{
			{do: publish(rotated), key: ed, fetches: 1},
			{advance: time.Second, key: ed, want: verify.ErrInvalidToken, fetches: 2},
		}},
		{"stale set unreachable: an error, retried a second later", "max-age=5", nil, []step{
			{advance: 5 * time.Second, do: status(http.StatusInternalServerError), key: ed, want: errFetch, fetches: 2},
			{key: ed, want: errFetch, fetches: 2},
			{advance: time.Second, do: status(0), key: ed, fetches: 3},
		}},
		{"unknown kid, refetch fails", "max-age=300", nil, []step{
			{advance: time.Minute, do: status(http.StatusServiceUnavailable), key: other, want: errFetch, fetches: 2},
			{advance: time.Second, key: other, want: verify.ErrInvalidToken, fetches: 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keel := newFakeKeel(ed)
			t.Cleanup(keel.Close)
			keel.cacheControl = tc.cacheControl
			clk := newClock()
			v, err := verify.New(context.Background(), keel.URL, append(tc.opts, verify.WithClock(clk.Now))...)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				if s.do != nil {
					s.do(keel)
				}
				_, err := v.Verify(context.Background(), mint(s.key.priv, header(s.key), claims(keel.URL, clk.Now())))
				switch {
				case s.want == errFetch && (err == nil || errors.Is(err, verify.ErrInvalidToken)):
					t.Errorf("step %d: Verify: %v; want a fetch error", i, err)
				case s.want != errFetch && !errors.Is(err, s.want):
					t.Errorf("step %d: Verify: %v; want %v", i, err, s.want)
				}
				if got := keel.jwksHits.Load(); got != s.fetches {
					t.Errorf("step %d: %d fetches of the key set; want %d", i, got, s.fetches)
				}
			}
		})
	}
}

// TestKeySetSharedFetch checks that callers who need the key set at the
// same time wait for one fetch (for an unknown kid and for a stale set), and
// that a caller whose context ends stops waiting without failing the others.
func TestKeySetSharedFetch(t *testing.T) {
	t.Parallel()
	ed, _, _ := keys()
	for _, why := range []string{"unknown kid", "stale"} {
		t.Run(why, func(t *testing.T) {
			t.Parallel()
			keel := newFakeKeel(ed)
			t.Cleanup(keel.Close)
			keel.cacheControl = "max-age=300"
			clk := newClock()
			v, err := verify.New(context.Background(), keel.URL, verify.WithClock(clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			key := ed
			clk.Advance(5 * time.Minute)
			if why == "unknown kid" {
				key = rotatedEdKey
				keel.publish(ed, rotatedEdKey)
			}
			gate := make(chan struct{})
			keel.set(func(k *fakeKeel) { k.gate = gate })
			token := mint(key.priv, header(key), claims(keel.URL, clk.Now()))

			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					_, err := v.Verify(context.Background(), token)
					errs <- err
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := v.Verify(ctx, token); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a caller whose context ended: %v", err)
			}
			close(gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("Verify: %v", err)
				}
			}
			if got := keel.jwksHits.Load(); got != 2 {
				t.Errorf("%d fetches of the key set; want 2 (New's and one shared)", got)
			}
		})
	}
}

// TestNew checks what New refuses: a discovery document naming another
// issuer (or the same with a trailing slash), and an issuer or key set that
// cannot be fetched.
func TestNew(t *testing.T) {
	t.Parallel()
	ed, _, _ := keys()
	cases := []struct {
		name   string
		keel   func(k *fakeKeel)
		issuer func(url string) string
		opts   []verify.Option
		want   string // in New's error; "" for none
	}{
		{"good", nil, nil, nil, ""},
		{"discovery names another issuer", func(k *fakeKeel) { k.issuer = "https://evil.example" }, nil, nil, `issuer is "https://evil.example"`},
		{"issuer given with a trailing slash", nil, func(url string) string { return url + "/" }, nil, "issuer is"},
		{"no discovery document", nil, func(url string) string { return url + "/nothing" }, nil, "404"},
		{"key set unreachable", func(k *fakeKeel) { k.jwksStatus = http.StatusBadGateway }, nil, nil, "502"},
		{"no issuer", nil, func(string) string { return "" }, nil, "no issuer"},
		{"empty audience", nil, nil, []verify.Option{verify.WithAudience("")}, "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keel := newFakeKeel(ed)
			t.Cleanup(keel.Close)
			if tc.keel != nil {
				keel.set(tc.keel)
			}
			issuer := keel.URL
			if tc.issuer != nil {
				issuer = tc.issuer(keel.URL)
			}
			_, err := verify.New(context.Background(), issuer, tc.opts...)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("New: %v; want %q", err, tc.want)
			}
		})
	}
}

// TestKeySetSkipsOtherKeys checks that keys keel does not sign access tokens
// with are left out rather than failing the set: a symmetric key, an
// encryption key, a key whose alg is not its type's, a private key, a kid
// used twice, and key types this package does not know. Tokens naming them
// are refused; the good key beside them verifies.
func TestKeySetSkipsOtherKeys(t *testing.T) {
	t.Parallel()
	ed, _, _ := keys()
	// The key pair of RFC 8037 appendix A.1.
	seed, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	rfc := ed25519.NewKeyFromSeed(seed)
	const x = `"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
	good, err := json.Marshal(jose.JSONWebKey{Key: ed.priv.Public(), KeyID: ed.kid, Algorithm: ed.alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"` + srv.URL + `","jwks_uri":"` + srv.URL + `/jwks"}`))
		case "/jwks":
			w.Write([]byte(`{"keys":[` + string(good) + `,
				{"kty":"oct","kid":"hs","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
				{"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","alg":"EdDSA",` + x + `},
				{"kty":"OKP","crv":"Ed25519","kid":"mislabelled","alg":"RS256",` + x + `},
				{"kty":"OKP","crv":"Ed25519","kid":"private","alg":"EdDSA",` + x + `,"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
				{"kty":"OKP","crv":"Ed25519","kid":"twice","alg":"EdDSA",` + x + `},
				{"kty":"OKP","crv":"Ed25519","kid":"twice","alg":"EdDSA",` + x + `},
				{"kty":"ML-DSA","kid":"pq","alg":"ML-DSA-65","pub":"AAAA"},
				{"kty":"OKP","crv":"Ed448","kid":"ed448","alg":"EdDSA","x":"AAAA"}
			]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	v, err := verify.New(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"the good key", mint(ed.priv, header(ed), claims(srv.URL, now)), nil},
		{"HS256 with the symmetric key", mint([]byte("secretsecretsecretsecretsecret"),
			map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "hs"}, claims(srv.URL, now)), verify.ErrInvalidToken},
	}
	for _, kid := range []string{"enc", "mislabelled", "private", "twice"} {
		cases = append(cases, struct {
			name  string
			token string
			want  error
		}{kid, mint(rfc, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, claims(srv.URL, now)), verify.ErrInvalidToken})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.token); !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v; want %v", err, tc.want)
			}
		})
	}
}
