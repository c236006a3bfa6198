package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The algorithms a key may sign with.
const (
	EdDSA = "EdDSA" // Ed25519: the default for new installs
	ES256 = "ES256" // ECDSA P-256
	RS256 = "RS256" // RSA 2048 with PKCS #1 v1.5, for verifiers that take RSA only
)

// Algs are the algorithms keys are made for, in the order of preference.
var Algs = []string{EdDSA, ES256, RS256}

// rsaBits is the size of a new RSA key: 2048, the size RFC 7518 §3.3
// requires at least and gateways that take RSA only all accept.
const rsaBits = 2048

// generate makes a key for alg, sealed, in state, and returns its signer.
// Its id is the key's RFC 7638 thumbprint: derived from the public key, so
// two keys never share one.
func generate(s sealer, alg, state string, now time.Time) (Key, crypto.Signer, error) {
	if s.aead == nil {
		return Key{}, nil, errors.New("keys: KEYS_KEK is required to make a key")
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return Key{}, nil, fmt.Errorf("keys: unknown algorithm %q (one of %v)", alg, Algs)
	}
	if err != nil {
		return Key{}, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return Key{}, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, nil, err
	}
	thumb, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, nil, err
	}
	k := Key{ID: b64(thumb), Alg: alg, State: state, Public: pub, CreatedAt: now}
	if state == StateCurrent {
		k.ActivatedAt = now
	}
	k.Sealed = s.seal(k.ID, alg, der)
	return k, priv, nil
}

// privateKey opens k's private key.
func privateKey(s sealer, k Key) (crypto.Signer, error) {
	der, err := s.open(k.ID, k.Alg, k.Sealed)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	signer, ok := p.(crypto.Signer)
	if !ok || !matches(k.Alg, signer.Public()) {
		return nil, fmt.Errorf("key %s: not an %s private key", k.ID, k.Alg)
	}
	return signer, nil
}

// publicKey parses k's public key.
func publicKey(k Key) (crypto.PublicKey, error) {
	p, err := x509.ParsePKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if !matches(k.Alg, p) {
		return nil, fmt.Errorf("key %s: not an %s public key", k.ID, k.Alg)
	}
	return p, nil
}

// matches reports whether pub is a key of alg's type.
func matches(alg string, pub crypto.PublicKey) bool {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return alg == EdDSA
	case *ecdsa.PublicKey:
		return alg == ES256 && p.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == RS256 && p.N.BitLen() >= rsaBits
	}
	return false
}

// ValidAlg reports whether alg is one keys are made for.
func ValidAlg(alg string) bool { return slices.Contains(Algs, alg) }
