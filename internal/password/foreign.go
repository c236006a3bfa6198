package password

// The hash formats of other systems, which an import (keel users import,
// internal/transfer) stores as they are so that an imported user signs in
// with the old password; the first success replaces the hash with keel's
// own (NeedsRehash). Every format is self-describing: the stored string
// holds its parameters, Firebase's project parameters too, so Compare needs
// nothing but the string. The costs an import accepts are capped (Caps): a
// hash is checked on the pool's workers at sign-in, and a cost past the cap
// would let one line of an import file hold a worker, or memory, for as
// long as its author liked.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Caps bound the costs of the hashes an import accepts and Compare checks.
type Caps struct {
	BcryptCost       int    // bcrypt's cost (log2 of its rounds)
	Argon2Memory     uint32 // argon2's m, in KiB
	Argon2Time       uint32 // argon2's t, passes over the memory
	Argon2Threads    uint8  // argon2's p, lanes
	ScryptMemCost    int    // Firebase's mem_cost: scrypt's N is 2^mem_cost
	ScryptRounds     int    // Firebase's rounds: scrypt's r
	PBKDF2Iterations int    // Django's iterations
}

// DefaultCaps are the documented caps (docs/admin.md, "Moving users"):
// each is several times what its system's default is today, and at most
// 256 MiB of memory for one check.
var DefaultCaps = Caps{
	BcryptCost:       16,      // keel's default is 10; each step doubles the time
	Argon2Memory:     262144,  // 256 MiB (argon2-cffi's default is 64 MiB, OWASP's 19 MiB)
	Argon2Time:       10,      // argon2-cffi's default is 3
	Argon2Threads:    16,      // argon2-cffi's default is 4
	ScryptMemCost:    17,      // N = 131072; Firebase's projects use 14
	ScryptRounds:     16,      // Firebase's projects use 8; 128·N·r bytes = 256 MiB at both caps
	PBKDF2Iterations: 2000000, // Django 5.2's default is 1,000,000
}

// Byte bounds on a salt and a derived hash: shorter hashes are too easy to
// collide with, longer fields only cost memory.
const (
	minHashBytes = 16
	maxFieldLen  = 1024
)

// ErrFormat is a hash in no format keel can check.
var ErrFormat = errors.New("password: not a hash format keel reads (bcrypt $2a$/$2b$/$2y$, $argon2id$, $argon2i$, pbkdf2_sha256$, $firebase-scrypt$)")

// foreign is a parsed hash of another system: verify reports whether pw
// derives to it.
type foreign interface {
	verify(pw []byte) bool
}

// Compare is Pool's comparison: nil when pw matches hash, in keel's bcrypt
// or one of the foreign formats; a foreign hash over DefaultCaps is refused
// as if it did not match (it could only have come from outside an import).
func Compare(hash, pw []byte) error {
	if isBcrypt(string(hash)) {
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	f, err := parseForeign(string(hash), DefaultCaps)
	if err != nil {
		return err
	}
	if !f.verify(pw) {
		return ErrMismatch
	}
	return nil
}

// NeedsRehash reports whether hash is not keel's own scheme (bcrypt): a
// sign-in that checks out replaces it with a hash of the pool's.
func NeedsRehash(hash string) bool { return hash != "" && !isBcrypt(hash) }

// CheckFormat returns nil when hash is in a format Compare reads with costs
// within caps, or an error that says what is wrong with it (an import
// reports it with the line). The empty hash is an account without a password.
func CheckFormat(hash string, caps Caps) error {
	if hash == "" {
		return nil
	}
	if isBcrypt(hash) {
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || len(hash) != 60 {
			return fmt.Errorf("password: a malformed bcrypt hash")
		}
		if cost > caps.BcryptCost {
			return fmt.Errorf("password: bcrypt cost %d is over the cap of %d", cost, caps.BcryptCost)
		}
		return nil
	}
	_, err := parseForeign(hash, caps)
	return err
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

func parseForeign(hash string, caps Caps) (foreign, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"), strings.HasPrefix(hash, "$argon2i$"):
		return parseArgon2(hash, caps)
	case strings.HasPrefix(hash, "pbkdf2_sha256$"):
		return parseDjango(hash, caps)
	case strings.HasPrefix(hash, "$"+firebaseID+"$"):
		return parseFirebase(hash, caps)
	}
	return nil, ErrFormat
}

// argon2Hash is a PHC string of argon2id or argon2i, version 19 (0x13, the
// only one golang.org/x/crypto/argon2 computes):
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>, base64 without padding.
type argon2Hash struct {
	id         bool
	m, t       uint32
	p          uint8
	salt, hash []byte
}

func parseArgon2(s string, caps Caps) (foreign, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, errors.New("password: an argon2 hash must be a PHC string $argon2id$v=19$m=…,t=…,p=…$salt$hash (version 19)")
	}
	params, err := phcParams(parts[3], "m", "t", "p")
	if err != nil {
		return nil, fmt.Errorf("password: argon2 %w", err)
	}
	m, t, p := params[0], params[1], params[2]
	switch {
	case m < 8 || t < 1 || p < 1:
		return nil, errors.New("password: argon2 m, t or p below argon2's minimum")
	case m > int64(caps.Argon2Memory):
		return nil, fmt.Errorf("password: argon2 m=%d is over the cap of %d KiB", m, caps.Argon2Memory)
	case t > int64(caps.Argon2Time):
		return nil, fmt.Errorf("password: argon2 t=%d is over the cap of %d", t, caps.Argon2Time)
	case p > int64(caps.Argon2Threads):
		return nil, fmt.Errorf("password: argon2 p=%d is over the cap of %d", p, caps.Argon2Threads)
	}
	salt, hash, err := saltAndHash(base64.RawStdEncoding, parts[4], parts[5])
	if err != nil {
		return nil, fmt.Errorf("password: argon2 %w", err)
	}
	return argon2Hash{id: parts[1] == "argon2id", m: uint32(m), t: uint32(t), p: uint8(p), salt: salt, hash: hash}, nil
}

func (a argon2Hash) verify(pw []byte) bool {
	derive := argon2.Key
	if a.id {
		derive = argon2.IDKey
	}
	return subtle.ConstantTimeCompare(derive(pw, a.salt, a.t, a.m, a.p, uint32(len(a.hash))), a.hash) == 1
}

// djangoHash is Django's PBKDF2PasswordHasher encoding:
// pbkdf2_sha256$<iterations>$<salt>$<base64 of the derived key>; the salt
// is used as its UTF-8 bytes, as Django does.
type djangoHash struct {
	iterations int
	salt, hash []byte
}

func parseDjango(s string, caps Caps) (foreign, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 {
		return nil, errors.New("password: a Django hash must be pbkdf2_sha256$iterations$salt$hash")
	}
	n, err := strconv.Atoi(parts[1])
	switch {
	case err != nil || n < 1 || parts[1] != strconv.Itoa(n):
		return nil, errors.New("password: Django iterations must be a positive whole number")
	case n > caps.PBKDF2Iterations:
		return nil, fmt.Errorf("password: pbkdf2 iterations %d are over the cap of %d", n, caps.PBKDF2Iterations)
	case parts[2] == "" || len(parts[2]) > maxFieldLen:
		return nil, errors.New("password: a Django hash needs a salt")
	}
	// PBKDF2's work is its iterations for each 32 bytes of the key it
	// derives: a key of 1024 bytes at the iterations' cap took 16 s of a
	// worker per sign-in attempt. Django's hasher derives SHA-256's 32.
	hash, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(hash) != sha256.Size {
		return nil, errors.New("password: a Django hash's derived key must be base64 of 32 bytes (SHA-256's, as Django makes it)")
	}
	return djangoHash{iterations: n, salt: []byte(parts[2]), hash: hash}, nil
}

func (d djangoHash) verify(pw []byte) bool {
	key, err := pbkdf2.Key(sha256.New, string(pw), d.salt, d.iterations, len(d.hash))
	return err == nil && subtle.ConstantTimeCompare(key, d.hash) == 1
}

// firebaseID names Firebase's scrypt in keel's self-describing form of it
// (FirebaseHash), a PHC-like string that carries the project's parameters:
// $firebase-scrypt$ln=14,r=8$<salt>$<salt separator>$<signer key>$<hash>,
// base64 without padding.
const firebaseID = "firebase-scrypt"

// FirebaseProject is a Firebase project's password hash parameters (the
// console's "Password Hash Parameters"): they are the same for every user.
type FirebaseProject struct {
	SignerKey     []byte // base64_signer_key, decoded
	SaltSeparator []byte // base64_salt_separator, decoded
	Rounds        int    // rounds: scrypt's r
	MemCost       int    // mem_cost: scrypt's N is 2^mem_cost
}

// FirebaseHash is keel's form of a Firebase user's scrypt hash (the
// exported password_hash and password_salt, decoded) under project p, for
// Compare and CheckFormat to read.
func FirebaseHash(p FirebaseProject, salt, hash []byte) string {
	b := base64.RawStdEncoding
	return fmt.Sprintf("$%s$ln=%d,r=%d$%s$%s$%s$%s", firebaseID, p.MemCost, p.Rounds,
		b.EncodeToString(salt), b.EncodeToString(p.SaltSeparator), b.EncodeToString(p.SignerKey), b.EncodeToString(hash))
}

// firebaseHash is Firebase's modified scrypt
// (github.com/firebase/scrypt): the key scrypt derives (N = 2^ln, r, p = 1,
// 32 bytes) from the password and salt‖separator encrypts the project's
// signer key with AES-256-CTR and a zero IV; the result is the hash.
type firebaseHash struct {
	ln, r                   int
	salt, sep, signer, hash []byte
}

func parseFirebase(s string, caps Caps) (foreign, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 7 {
		return nil, errors.New("password: a Firebase scrypt hash must be $firebase-scrypt$ln=…,r=…$salt$separator$signer-key$hash")
	}
	params, err := phcParams(parts[2], "ln", "r")
	if err != nil {
		return nil, fmt.Errorf("password: Firebase scrypt %w", err)
	}
	ln, r := params[0], params[1]
	switch {
	case ln < 1 || r < 1:
		return nil, errors.New("password: Firebase scrypt mem_cost and rounds must be 1 or more")
	case ln > int64(caps.ScryptMemCost):
		return nil, fmt.Errorf("password: Firebase scrypt mem_cost %d (N = 2^%d) is over the cap of %d", ln, ln, caps.ScryptMemCost)
	case r > int64(caps.ScryptRounds):
		return nil, fmt.Errorf("password: Firebase scrypt rounds %d are over the cap of %d", r, caps.ScryptRounds)
	}
	b := base64.RawStdEncoding
	salt, hash, err := saltAndHash(b, parts[3], parts[6])
	if err != nil {
		return nil, fmt.Errorf("password: Firebase scrypt %w", err)
	}
	sep, err1 := b.DecodeString(parts[4])
	signer, err2 := b.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(sep) > maxFieldLen || len(signer) != len(hash) {
		return nil, errors.New("password: Firebase scrypt salt separator or signer key is not base64, or the key is not as long as the hash")
	}
	return firebaseHash{ln: int(ln), r: int(r), salt: salt, sep: sep, signer: signer, hash: hash}, nil
}

func (f firebaseHash) verify(pw []byte) bool {
	key, err := scrypt.Key(pw, append(bytes.Clone(f.salt), f.sep...), 1<<f.ln, f.r, 1, 32)
	if err != nil {
		return false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return false
	}
	got := make([]byte, len(f.signer))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got, f.signer)
	return subtle.ConstantTimeCompare(got, f.hash) == 1
}

// phcParams reads a PHC parameter list "a=1,b=2" whose names are exactly
// names, in that order, as non-negative whole numbers.
func phcParams(s string, names ...string) ([]int64, error) {
	fields := strings.Split(s, ",")
	if len(fields) != len(names) {
		return nil, fmt.Errorf("parameters must be %s=…", strings.Join(names, "=…,"))
	}
	out := make([]int64, len(names))
	for i, f := range fields {
		v, ok := strings.CutPrefix(f, names[i]+"=")
		n, err := strconv.ParseInt(v, 10, 32)
		if !ok || err != nil || n < 0 || v != strconv.FormatInt(n, 10) {
			return nil, fmt.Errorf("parameters must be %s=…", strings.Join(names, "=…,"))
		}
		out[i] = n
	}
	return out, nil
}

// saltAndHash decodes a salt and a derived hash, within the byte bounds.
func saltAndHash(enc *base64.Encoding, salt, hash string) ([]byte, []byte, error) {
	s, err := enc.DecodeString(salt)
	if err != nil || len(s) == 0 || len(s) > maxFieldLen {
		return nil, nil, errors.New("salt must be base64 of 1 to 1024 bytes")
	}
	h, err := enc.DecodeString(hash)
	if err != nil || len(h) < minHashBytes || len(h) > maxFieldLen {
		return nil, nil, errors.New("hash must be base64 of 16 to 1024 bytes")
	}
	return s, h, nil
}
