package server

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/keelhq/keel/gen/oapi"
)

// PublishedKeys is the signing key set as the API publishes it
// (internal/keys.Ring).
type PublishedKeys interface {
	// JWKS is the JSON Web Key Set document of the published keys.
	JWKS() []byte
	// Published reports whether the key kid is published (not revoked).
	Published(kid string) bool
	// OnChange has f called after every change to the set.
	OnChange(f func())
}

// DefaultJWKSMaxAge is how long verifiers may cache the JWKS unless
// JWKS_MAX_AGE says otherwise: 5 minutes, the order most gateways cache for.
const DefaultJWKSMaxAge = 5 * time.Minute

// jwksCacheControl lets verifiers and caches keep the keys for
// JWKS_MAX_AGE: a next key is published that long before it signs, so a
// verifier holding the document that long still knows every signing key.
func (s *Server) jwksCacheControl() string {
	age := s.cfg.JWKSMaxAge
	if age <= 0 {
		age = DefaultJWKSMaxAge
	}
	return "public, max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
}

// GetJWKS answers the published signing keys.
func (s *Server) GetJWKS(context.Context, oapi.GetJWKSRequestObject) (oapi.GetJWKSResponseObject, error) {
	set := oapi.JWKS{Keys: []oapi.JWK{}}
	if s.keys != nil {
		if err := json.Unmarshal(s.keys.JWKS(), &set); err != nil {
			return nil, err
		}
	}
	return oapi.GetJWKS200JSONResponse{Body: set, Headers: oapi.GetJWKS200ResponseHeaders{CacheControl: s.jwksCacheControl()}}, nil
}

// GetOpenIDConfiguration answers the discovery document: the issuer and
// where its keys are, and the OpenID Provider's endpoints (provider.go).
func (s *Server) GetOpenIDConfiguration(context.Context, oapi.GetOpenIDConfigurationRequestObject) (oapi.GetOpenIDConfigurationResponseObject, error) {
	return oapi.GetOpenIDConfiguration200JSONResponse{
		Body:    s.discovery(),
		Headers: oapi.GetOpenIDConfiguration200ResponseHeaders{CacheControl: s.jwksCacheControl()},
	}, nil
}
