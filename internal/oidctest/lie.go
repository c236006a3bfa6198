package oidctest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// NextIDToken changes the next ID token the provider issues: f gets its claims as decoded JSON (numbers
// as json.Number) and may change, add or delete any; the provider then signs the result with its own
// key and key id, as it signs every token. Calls before a token is issued add up, in order.
//
// The op itself cannot be made to lie (it always puts the client id in aud, for one), so the token
// endpoint's response is rewritten on its way out.
func (p *Provider) NextIDToken(f func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextToken = append(p.nextToken, f)
}

// WrongNonce makes the next ID token carry a nonce other than the one in the authorize request.
func (p *Provider) WrongNonce() {
	p.NextIDToken(func(c map[string]any) { c["nonce"] = fmt.Sprint("not-", c["nonce"]) })
}

// WrongAudience makes the next ID token for another client: neither aud nor azp names
// [Provider.ClientID].
func (p *Provider) WrongAudience() {
	other := "not-" + p.ClientID
	p.NextIDToken(func(c map[string]any) {
		c["aud"] = []string{other}
		c["azp"] = other
		c["client_id"] = other
	})
}

// ExpiredIDToken makes the next ID token one that expired an hour ago.
func (p *Provider) ExpiredIDToken() {
	now := time.Now()
	p.NextIDToken(func(c map[string]any) {
		c["iat"] = now.Add(-2 * time.Hour).Unix()
		c["auth_time"] = now.Add(-2 * time.Hour).Unix()
		c["exp"] = now.Add(-time.Hour).Unix()
	})
}

func (p *Provider) lying() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.nextToken) > 0
}

// rewriteIDTokens passes requests to next, and applies the changes asked for with NextIDToken to the
// first ID token that a response from the token endpoint (tokenPath) carries.
func (p *Provider) rewriteIDTokens(tokenPath string, signingKey func(context.Context) (op.SigningKey, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != tokenPath || !p.lying() {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var err error
			if body, err = p.rewriteTokenResponse(r.Context(), body, signingKey); err != nil {
				http.Error(w, "oidctest: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// rewriteTokenResponse changes the ID token in a token response, if there is one, and only then takes
// the changes, so that a failed exchange leaves them for the next token.
func (p *Provider) rewriteTokenResponse(ctx context.Context, body []byte, signingKey func(context.Context) (op.SigningKey, error)) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	raw, ok := resp["id_token"].(string)
	if !ok {
		return body, nil
	}
	p.mu.Lock()
	changes := p.nextToken
	p.nextToken = nil
	p.mu.Unlock()

	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("the ID token is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("ID token payload: %w", err)
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // exp and iat stay what the op wrote unless changed
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("ID token claims: %w", err)
	}
	for _, change := range changes {
		change(claims)
	}
	key, err := signingKey(ctx)
	if err != nil {
		return nil, err
	}
	signer, err := op.SignerFromKey(key)
	if err != nil {
		return nil, err
	}
	if resp["id_token"], err = crypto.Sign(claims, signer); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}
