package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keelhq/keel/verify"
)

// claimsKey is the request context's key of a verified token's claims.
type claimsKey struct{}

// requireUser lets through the requests that bear a valid keel access token,
// with its claims in the request's context, and answers the others 401 (or
// 503 when keel's key set cannot be fetched).
func requireUser(v *verify.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims, err := v.Verify(r.Context(), raw)
		switch {
		case errors.Is(err, verify.ErrInvalidToken):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "cannot check tokens now", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

// A service behind keel checks keel's access tokens in an HTTP middleware,
// knowing only keel's issuer URL (its API_URL).
func Example() {
	keel, token := exampleKeel() // a stand-in for keel and a token it issued
	defer keel.Close()
	issuer := keel.URL // e.g. "https://auth.example.com"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := verify.New(ctx, issuer) // verify.WithAudience(...) if keel's JWT_AUDIENCE is set
	if err != nil {
		log.Fatal(err)
	}
	hello := requireUser(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims := r.Context().Value(claimsKey{}).(*verify.Claims)
		fmt.Fprintf(w, "hello, user %s (%s)\n", claims.Subject, claims.AAL)
	}))

	for _, auth := range []string{"Bearer " + token, "Bearer " + token + "x", ""} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		hello.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 hello, user 42 (aal1)
	// 401 unauthorized
	// 401 unauthorized
}

// exampleKeel starts a fake keel and mints a token of it.
func exampleKeel() (*fakeKeel, string) {
	ed, _, _ := keys()
	k := newFakeKeel(ed)
	return k, mint(ed.priv, header(ed), claims(k.URL, time.Now()))
}
