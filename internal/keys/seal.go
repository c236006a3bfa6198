package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinKEKLen is the shortest KEYS_KEK accepted, in bytes.
const MinKEKLen = 32

// ErrSealed is a sealed key that does not open with this KEYS_KEK: another
// KEK sealed it, or the row was changed.
var ErrSealed = errors.New("keys: the sealed private key does not open with this KEYS_KEK")

// sealer seals private keys with AES-256-GCM under a key derived from
// KEYS_KEK by HKDF. The key's id and algorithm are the additional data, so a
// sealed key moved to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(kek []byte) (sealer, error) {
	if len(kek) < MinKEKLen {
		return sealer{}, fmt.Errorf("keys: KEYS_KEK must be at least %d bytes", MinKEKLen)
	}
	k, err := hkdf.Key(sha256.New, kek, nil, "keel signing-key sealing key v1", 32)
	if err != nil {
		return sealer{}, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	return sealer{aead: aead}, nil
}

// seal returns nonce ‖ ciphertext of the private key's PKCS#8 DER.
func (s sealer) seal(id, alg string, der []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(der)+s.aead.Overhead())
	rand.Read(nonce) // never fails (crypto/rand)
	return s.aead.Seal(nonce, nonce, der, additional(id, alg))
}

// open returns the PKCS#8 DER a seal sealed.
func (s sealer) open(id, alg string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealed
	}
	der, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional(id, alg))
	if err != nil {
		return nil, ErrSealed
	}
	return der, nil
}

func additional(id, alg string) []byte { return []byte("keel signing key " + alg + " " + id) }

// checkKEK refuses a change that makes a key or makes one current unless
// every key the set keeps (all but the revoked, and those the change revokes
// or deletes) opens under s, and so does at least one stored key: a `keel
// keys` run or a replica with another KEYS_KEK would otherwise add a key no
// other replica can open, which stops them signing with it and keel from
// starting. (Revoking a key sealed under another KEYS_KEK stays possible.)
// A revocation (revoke) needs no stored key to open when it keeps none that
// does not: the way out of a lost KEYS_KEK is to revoke every key under a
// new one.
func checkKEK(s sealer, keys []Key, c Change, revoke bool) error {
	makes := len(c.Add) > 0
	gone := make(map[string]bool, len(c.Delete))
	for _, id := range c.Delete {
		gone[id] = true
	}
	for _, u := range c.Update {
		makes = makes || u.State == StateCurrent
		gone[u.ID] = gone[u.ID] || u.State == StateRevoked
	}
	if !makes {
		return nil
	}
	if s.aead == nil {
		return errors.New("keys: KEYS_KEK is required to make a key or make one current")
	}
	opened := false
	var first error
	for _, k := range keys {
		_, err := s.open(k.ID, k.Alg, k.Sealed)
		if err == nil {
			opened = true
			continue
		}
		err = fmt.Errorf("key %s: %w: is KEYS_KEK the one the keys were made with? Nothing was changed", k.ID, err)
		if k.State != StateRevoked && !gone[k.ID] {
			return err
		}
		if first == nil {
			first = err
		}
	}
	if !opened && !revoke {
		return first
	}
	return nil
}

// checked is plan, refused by checkKEK.
func checked(s sealer, revoke bool, plan func([]Key) (Change, error)) func([]Key) (Change, error) {
	return func(keys []Key) (Change, error) {
		c, err := plan(keys)
		if err != nil || c.Empty() {
			return c, err
		}
		if err := checkKEK(s, keys, c, revoke); err != nil {
			return Change{}, err
		}
		return c, nil
	}
}
