package mfa

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

var testKey = []byte("test-secret-0123456789abcdef0123456789")

func mustKeys(t *testing.T, secret []byte) *Keys {
	t.Helper()
	k, err := New(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCodeRFC6238: the codes are RFC 6238's (Appendix B, SHA-1, the last six
// of its eight digits) and pquerna/otp's, an independent implementation.
func TestCodeRFC6238(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	for _, tt := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		at := time.Unix(tt.unix, 0)
		if got := Code(secret, Step(at)); got != tt.want {
			t.Errorf("Code at %d = %s, want %s", tt.unix, got, tt.want)
		}
		other, err := totp.GenerateCode(Encode(secret), at)
		if err != nil || other != tt.want {
			t.Errorf("pquerna/otp at %d = %s, %v; want %s", tt.unix, other, err, tt.want)
		}
		if step, ok := Match(secret, tt.want, at); !ok || step != Step(at) {
			t.Errorf("Match(%s) at %d = %d, %v; want step %d", tt.want, tt.unix, step, ok, Step(at))
		}
	}
}

// TestMatchSkew: the codes of the step before and after now are accepted
// (and name their step), older and newer ones are not, nor malformed ones.
func TestMatchSkew(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	if len(secret) != SecretBytes || SecretBytes*8 != 160 {
		t.Fatalf("secret of %d bytes, want 160 bits", len(secret))
	}
	now := time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	cur := Step(now)
	for _, tt := range []struct {
		offset int64
		ok     bool
	}{{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		code := Code(secret, cur+tt.offset)
		step, ok := Match(secret, code, now)
		if tt.ok && (!ok || step != cur+tt.offset) {
			t.Errorf("code of step %+d: %d, %v; want step %d accepted", tt.offset, step, ok, cur+tt.offset)
		}
		if !tt.ok && ok && step == cur+tt.offset {
			t.Errorf("code of step %+d accepted", tt.offset)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := Match(secret, bad, now); ok {
			t.Errorf("Match(%q) accepted", bad)
		}
	}
}

// TestSeal: a sealed secret opens with the key and factor id that sealed
// it, and with nothing else; the database's bytes do not hold the secret.
func TestSeal(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, testKey)
	secret := NewSecret()
	sealed := k.Seal("f1", secret)
	if bytes.Contains(sealed, secret) || bytes.Contains(sealed, []byte(Encode(secret))) {
		t.Fatal("the sealed secret holds the secret in the clear")
	}
	if again := k.Seal("f1", secret); bytes.Equal(again, sealed) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	if got, err := k.Open("f1", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open = %x, %v; want the secret", got, err)
	}
	other := mustKeys(t, []byte("another-secret-0123456789abcdef012345"))
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for _, tt := range []struct {
		name   string
		k      *Keys
		id     string
		sealed []byte
	}{
		{"another key", other, "f1", sealed},
		{"another factor's id", k, "f2", sealed},
		{"a changed byte", k, "f1", tampered},
		{"too short", k, "f1", sealed[:5]},
	} {
		if _, err := tt.k.Open(tt.id, tt.sealed); err != ErrSealed {
			t.Errorf("%s: %v, want ErrSealed", tt.name, err)
		}
	}
	if _, err := New([]byte("short")); err == nil {
		t.Error("New accepted a 5-byte key")
	}
}

// TestURI: the otpauth URI names the issuer and account and carries the
// secret and RFC 6238's parameters.
func TestURI(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	raw, err := URI("keel", "ada@example.com", secret)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/keel:ada@example.com" || q.Get("secret") != Encode(secret) ||
		q.Get("issuer") != "keel" || q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("URI = %s", raw)
	}
}

// TestRecoveryCodes: ten distinct codes of 80 bits; their hash ignores
// letter case, dashes and spaces, and differs by user and by key.
func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes := NewRecoveryCodes()
	seen := map[string]bool{}
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	for _, c := range codes {
		if !format.MatchString(c) || seen[c] {
			t.Errorf("code %q: malformed or repeated", c)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Errorf("%d codes, want 10", len(codes))
	}
	k := mustKeys(t, testKey)
	h := k.HashRecoveryCode(1, codes[0])
	if strings.Contains(h, strings.ReplaceAll(codes[0], "-", "")) {
		t.Error("the hash holds the code")
	}
	for _, same := range []string{strings.ToUpper(codes[0]), strings.ReplaceAll(codes[0], "-", ""), " " + strings.ReplaceAll(codes[0], "-", " ")} {
		if k.HashRecoveryCode(1, same) != h {
			t.Errorf("%q hashes apart from %q", same, codes[0])
		}
	}
	if k.HashRecoveryCode(2, codes[0]) == h {
		t.Error("the same code of another user hashes alike")
	}
	if mustKeys(t, []byte("another-secret-0123456789abcdef012345")).HashRecoveryCode(1, codes[0]) == h {
		t.Error("another key hashes alike: the hash is not keyed")
	}
}

// TestPreviousKey: with the key of before kept as previous, what it sealed
// opens and what it hashed is among a code's hashes, while only the current
// key seals and hashes first; Reseal moves a secret of before under the
// current key, leaves one of the current key alone, and refuses one of
// neither.
func TestPreviousKey(t *testing.T) {
	t.Parallel()
	oldKey := []byte("the-key-before-the-change-0123456789")
	before, other := mustKeys(t, oldKey), mustKeys(t, []byte("neither-key-of-the-two-0123456789abc"))
	k, err := New(testKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := NewSecret()
	old := before.Seal("f1", secret)
	if got, err := k.Open("f1", old); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("a secret sealed under the previous key: %v", err)
	}
	if _, err := mustKeys(t, testKey).Open("f1", k.Seal("f1", secret)); err != nil {
		t.Errorf("Seal did not seal under the current key: %v", err)
	}
	resealed, err := k.Reseal("f1", old)
	if err != nil || resealed == nil {
		t.Fatalf("Reseal of a secret of before: %v, %v", resealed, err)
	}
	if got, err := mustKeys(t, testKey).Open("f1", resealed); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("the resealed secret does not open under the current key alone: %v", err)
	}
	if again, err := k.Reseal("f1", resealed); err != nil || again != nil {
		t.Errorf("Reseal of a secret of the current key: %v, %v; want nil, nil", again, err)
	}
	if _, err := k.Reseal("f1", other.Seal("f1", secret)); err != ErrSealed {
		t.Errorf("Reseal of a secret of neither key: %v, want ErrSealed", err)
	}

	hashes := k.RecoveryCodeHashes(7, "abcd-efgh-ijkl-mnop")
	if len(hashes) != 2 || hashes[0] != k.HashRecoveryCode(7, "abcd-efgh-ijkl-mnop") ||
		hashes[1] != before.HashRecoveryCode(7, "ABCDEFGHIJKLMNOP") || hashes[0] != mustKeys(t, testKey).HashRecoveryCode(7, "abcdefghijklmnop") {
		t.Errorf("RecoveryCodeHashes: %v, want the current key's, then the previous key's", hashes)
	}
	if got := mustKeys(t, testKey).RecoveryCodeHashes(7, "abcd"); len(got) != 1 {
		t.Errorf("without a previous key: %d hashes", len(got))
	}
}
