package provider

import (
	"context"
	"encoding/json"
	"errors"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// RS256 is the one algorithm of the provider's tokens: OpenID Connect Core
// §15.1 and Discovery §3 require it of every provider. Its keys are keel's
// (internal/keys, Config.Also), with the same states and rotation.
const RS256 = "RS256"

// signingKey is the ring's current RS256 key (op.SigningKey).
type signingKey struct {
	kid string
	key any
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

// publicKey is a published key (op.Key).
type publicKey struct{ jose.JSONWebKey }

func (k publicKey) ID() string { return k.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.JSONWebKey.Algorithm)
}
func (k publicKey) Use() string { return k.JSONWebKey.Use }
func (k publicKey) Key() any    { return k.JSONWebKey.Key }

// SigningKey implements op.Storage.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	kid, key, ok := s.p.keys.SignerFor(RS256)
	if !ok {
		return nil, errors.New("provider: no current RS256 key (keys.Config.Also)")
	}
	return signingKey{kid: kid, key: key}, nil
}

// SignatureAlgorithms implements op.Storage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the published RS256 keys, which verify the
// provider's own tokens (an id_token_hint, an access token at userinfo).
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.p.keys.JWKS(), &set); err != nil {
		return nil, err
	}
	var out []op.Key
	for _, k := range set.Keys {
		if k.Algorithm == RS256 {
			out = append(out, publicKey{k})
		}
	}
	return out, nil
}
