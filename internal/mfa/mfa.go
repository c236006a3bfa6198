// Package mfa is keel's second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s
// steps, 160-bit secrets) with codes checked per time step so that the caller
// can refuse a step already used, the sealing of TOTP secrets at rest
// (AES-256-GCM under a key derived from JWT_SECRET or MFA_KEY, so a leaked
// database alone does not give the codes), and recovery codes, kept only as
// keyed hashes. While that key changes, what the previous one sealed or
// hashed still works (JWT_SECRET_PREVIOUS, MFA_KEY_PREVIOUS): secrets until
// they are re-sealed (Reseal, keel secrets reseal), recovery codes until
// their set is replaced. It holds no state: the store keeps each factor's last
// accepted step and compares-and-sets it (db.Store.UseFactorCode).
package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// The TOTP parameters every authenticator app understands (RFC 6238's
// defaults, and the only ones Google Authenticator honours).
const (
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// SecretBytes is the size of a secret: 160 bits, SHA-1's block of
	// output, as RFC 4226 §4 recommends.
	SecretBytes = 20
	// Skew is how many steps before and after the current one are accepted
	// (clock drift between the server and the authenticator).
	Skew = 1
	// RecoveryCodes is how many recovery codes a set has.
	RecoveryCodes = 10
)

// MinKeyLen is the shortest key material (JWT_SECRET or MFA_KEY) New accepts.
const MinKeyLen = 32

// ErrSealed is a sealed secret that does not open with this key: another
// key sealed it, or it was changed.
var ErrSealed = errors.New("mfa: the sealed secret does not open with this key")

// Keys seal TOTP secrets and hash recovery codes, with keys derived from one
// secret (HKDF-SHA256, one info string each), and open and check what keys
// derived from the previous secrets sealed and hashed.
type Keys struct {
	keySet
	previous []keySet
}

// keySet is the keys derived from one secret.
type keySet struct {
	aead     cipher.AEAD
	recovery []byte
}

// New derives the keys from secret (JWT_SECRET or MFA_KEY) and from each of
// previous (JWT_SECRET_PREVIOUS or MFA_KEY_PREVIOUS), each at least
// MinKeyLen bytes. Only secret's seal and hash; previous' open and check.
func New(secret []byte, previous ...[]byte) (*Keys, error) {
	cur, err := derive(secret)
	if err != nil {
		return nil, err
	}
	k := &Keys{keySet: cur}
	for _, p := range previous {
		prev, err := derive(p)
		if err != nil {
			return nil, err
		}
		k.previous = append(k.previous, prev)
	}
	return k, nil
}

func derive(secret []byte) (keySet, error) {
	if len(secret) < MinKeyLen {
		return keySet{}, errors.New("mfa: the key must be at least " + strconv.Itoa(MinKeyLen) + " bytes")
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "keel mfa secret-sealing key v1", 32)
	if err != nil {
		return keySet{}, err
	}
	recovery, err := hkdf.Key(sha256.New, secret, nil, "keel mfa recovery-code key v1", 32)
	if err != nil {
		return keySet{}, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return keySet{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keySet{}, err
	}
	return keySet{aead: aead, recovery: recovery}, nil
}

// NewSecret returns a new random TOTP secret.
func NewSecret() []byte {
	b := make([]byte, SecretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// Seal encrypts a TOTP secret for the factor id: a random nonce, then the
// ciphertext. The id is authenticated with it, so a sealed secret copied to
// another factor's row does not open.
func (k *Keys) Seal(id string, secret []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, secret, additional(id))
}

// Open decrypts what Seal sealed for the factor id, under the current key
// or a previous one, or returns ErrSealed.
func (k *Keys) Open(id string, sealed []byte) ([]byte, error) {
	if secret, err := k.open(id, sealed); err == nil {
		return secret, nil
	}
	for _, p := range k.previous {
		if secret, err := p.open(id, sealed); err == nil {
			return secret, nil
		}
	}
	return nil, ErrSealed
}

// Reseal is the factor id's sealed secret under the current key: nil when
// sealed is the current key's already, the secret sealed anew when it opens
// only under a previous key, ErrSealed when it opens under none.
func (k *Keys) Reseal(id string, sealed []byte) (resealed []byte, err error) {
	if _, err := k.open(id, sealed); err == nil {
		return nil, nil
	}
	secret, err := k.Open(id, sealed)
	if err != nil {
		return nil, err
	}
	return k.Seal(id, secret), nil
}

func (k *keySet) open(id string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealed
	}
	secret, err := k.aead.Open(nil, sealed[:n], sealed[n:], additional(id))
	if err != nil {
		return nil, ErrSealed
	}
	return secret, nil
}

func additional(id string) []byte { return []byte("keel totp factor " + id) }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Encode is a secret as authenticator apps take it typed in: base32, no padding.
func Encode(secret []byte) string { return b32.EncodeToString(secret) }

// URI is the otpauth:// URI of a secret (what a QR code holds), labelled
// issuer:account and carrying issuer, the algorithm, digits and period.
func URI(issuer, account string, secret []byte) (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: secret,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", err
	}
	return key.URL(), nil
}

// Step is the time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the secret's code for a time step.
func Code(secret []byte, step int64) string {
	code, err := hotp.GenerateCodeCustom(Encode(secret), uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		panic("mfa: " + err.Error()) // only a secret that is not base32 fails, and Encode made it
	}
	return code
}

// Match finds the time step, of the current one and Skew either side of it,
// whose code is code, and returns it; ok is false when none is. The caller
// must still refuse a step that is not after the last one it accepted.
func Match(secret []byte, code string, now time.Time) (step int64, ok bool) {
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	// Each candidate is compared in constant time, and all are compared.
	for _, s := range []int64{cur, cur - 1, cur + 1} {
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// NewRecoveryCodes returns a new set of recovery codes: 80 random bits each,
// written as four groups of four base32 letters and digits (abcd-efgh-ijkl-mnop).
func NewRecoveryCodes() []string {
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 10)
		rand.Read(b)
		s := strings.ToLower(b32.EncodeToString(b))
		codes[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return codes
}

// HashRecoveryCode is how the user's recovery code is stored and looked up:
// HMAC-SHA256 under a key the database does not hold, of the user id and the
// code in its one form (letter case, dashes and spaces do not matter).
func (k *Keys) HashRecoveryCode(userID int64, code string) string {
	return k.hashRecoveryCode(userID, code)
}

// RecoveryCodeHashes are the hashes the user's recovery code may be stored
// under: the current key's first, then each previous key's (a set made
// before the key changed is hashed under the key of then).
func (k *Keys) RecoveryCodeHashes(userID int64, code string) []string {
	hashes := []string{k.hashRecoveryCode(userID, code)}
	for _, p := range k.previous {
		hashes = append(hashes, p.hashRecoveryCode(userID, code))
	}
	return hashes
}

func (k *keySet) hashRecoveryCode(userID int64, code string) string {
	code = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(code))
	mac := hmac.New(sha256.New, k.recovery)
	mac.Write([]byte(strconv.FormatInt(userID, 10) + ":" + code))
	return hex.EncodeToString(mac.Sum(nil))
}
