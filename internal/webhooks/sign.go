package webhooks

// Standard Webhooks signing (https://www.standardwebhooks.com): what keel
// sends and what any of its libraries verifies. The receiving side's helpers
// (the verify package, the TypeScript client) test against this file.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret as shown to the operator: whsec_ and the
// base64 of the key bytes, as the Standard Webhooks libraries take it.
const SecretPrefix = "whsec_"

// SecretBytes is the size of a new secret's key: 256 bits, HMAC-SHA256's
// block of output.
const SecretBytes = 32

// ErrSecret is a secret that is not whsec_ and standard base64.
var ErrSecret = errors.New("webhooks: a secret is whsec_ followed by base64")

// NewSecret returns a new random secret's key bytes.
func NewSecret() []byte {
	b := make([]byte, SecretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// EncodeSecret is key as the operator sees it: whsec_<base64>.
func EncodeSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// DecodeSecret is the key bytes of a whsec_ secret (the prefix is optional,
// as in the Standard Webhooks libraries).
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrSecret
	}
	return key, nil
}

// Signature is one v1 signature: "v1," and the base64 of HMAC-SHA256, keyed
// with key, over id "." timestamp (Unix seconds) "." body.
func Signature(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign is the webhook-signature header of a delivery: one v1 signature per
// key, separated by spaces (during a rotation, the new secret's first and
// the old one's after it; a receiver accepts any one that matches).
func Sign(keys [][]byte, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Signature(k, id, ts, body)
	}
	return strings.Join(sigs, " ")
}

// Headers are a delivery's three Standard Webhooks headers.
func Headers(keys [][]byte, id string, ts time.Time, body []byte) map[string]string {
	return map[string]string{
		HeaderID:        id,
		HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10),
		HeaderSignature: Sign(keys, id, ts, body),
	}
}
