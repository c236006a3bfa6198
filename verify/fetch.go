package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxBody bounds what is read of a discovery document or key set.
const maxBody = 1 << 20

// getJSON fetches url into dst and returns the response's headers. Anything
// but a 200 with JSON that fits in maxBody is an error.
func getJSON(ctx context.Context, client *http.Client, url string, dst any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxBody)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.Header, nil
}

// discover reads the issuer's OpenID discovery document and returns its
// jwks_uri, after checking that it names issuer, byte for byte (OpenID
// Connect Discovery §4.3): a document that names another issuer may be
// someone else's.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	url := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	if _, err := getJSON(ctx, client, url, &doc); err != nil {
		return "", fmt.Errorf("verify: discovery: %w", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("verify: discovery: issuer is %q, not %q", doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("verify: discovery: %s names no jwks_uri", url)
	}
	return doc.JWKSURI, nil
}

// publicKey is one usable key of the set: the algorithm it verifies and the
// key itself (ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey).
type publicKey struct {
	alg string
	key any
}

// fetchKeys fetches the key set at url and returns its usable keys by kid,
// and how long the response says it may be kept (maxAge when it says
// nothing). Keys that cannot verify a keel token (no kid, another use, an
// algorithm or key type other than keel's, a private key) are skipped, as
// RFC 7517 §5 asks, rather than failing the whole set.
func fetchKeys(ctx context.Context, client *http.Client, url string, maxAge time.Duration) (map[string]publicKey, time.Duration, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	header, err := getJSON(ctx, client, url, &set)
	if err != nil {
		return nil, 0, fmt.Errorf("verify: key set: %w", err)
	}
	if set.Keys == nil {
		return nil, 0, fmt.Errorf("verify: key set: %s has no keys member", url)
	}
	keys := make(map[string]publicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || jwk.KeyID == "" || !jwk.IsPublic() || !jwk.Valid() {
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		alg := algOf(jwk.Key)
		if alg == "" || (jwk.Algorithm != "" && jwk.Algorithm != alg) {
			continue
		}
		if _, dup := keys[jwk.KeyID]; dup {
			// Two keys under one kid: which one signed is anyone's guess,
			// so neither verifies.
			keys[jwk.KeyID] = publicKey{}
			continue
		}
		keys[jwk.KeyID] = publicKey{alg: alg, key: jwk.Key}
	}
	for kid, k := range keys {
		if k.key == nil {
			delete(keys, kid)
		}
	}
	if age, ok := cacheMaxAge(header.Get("Cache-Control")); ok {
		// A cache in front of keel (a CDN) says how long it has held the
		// response: that much of its max-age is spent (RFC 9111 §4.2.3), so
		// a revoked key is kept no longer than JWKS_MAX_AGE in all.
		if held, err := strconv.ParseInt(strings.TrimSpace(header.Get("Age")), 10, 64); err == nil && held > 0 {
			age -= time.Duration(min(held, int64(1<<31))) * time.Second
		}
		maxAge = max(age, minMaxAge)
	}
	return keys, maxAge, nil
}

// algOf is the one algorithm keel signs with a key of this type, or "" for
// a type keel does not use.
func algOf(key any) string {
	switch k := key.(type) {
	case ed25519.PublicKey:
		return string(jose.EdDSA)
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return string(jose.ES256)
		}
	case *rsa.PublicKey:
		return string(jose.RS256)
	}
	return ""
}

// cacheMaxAge reads max-age from a Cache-Control value; no-store and
// no-cache count as 0.
func cacheMaxAge(cc string) (time.Duration, bool) {
	found := false
	age := time.Duration(0)
	for d := range strings.SplitSeq(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			found, age = true, time.Duration(min(n, int64(1<<31)))*time.Second
		}
	}
	return age, found
}
