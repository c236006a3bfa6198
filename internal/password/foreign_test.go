package password

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// vector is a hash made by its format's own reference implementation
// (testdata/README.md says how), never by keel.
type vector struct {
	Format, Password, Hash string
	MadeBy                 string `json:"made_by"`
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile("testdata/firebase.json")
	if err != nil {
		t.Fatal(err)
	}
	var fb struct {
		Project struct {
			SignerKey, SaltSeparator string
			Rounds, MemCost          int
		}
		Users []struct {
			Password, Salt, Hash string
			MadeBy               string `json:"made_by"`
		}
	}
	if err := json.Unmarshal(b, &fb); err != nil {
		t.Fatal(err)
	}
	p := FirebaseProject{SignerKey: b64(t, fb.Project.SignerKey), SaltSeparator: b64(t, fb.Project.SaltSeparator),
		Rounds: fb.Project.Rounds, MemCost: fb.Project.MemCost}
	for _, u := range fb.Users {
		out = append(out, vector{Format: "firebase-scrypt", MadeBy: u.MadeBy, Password: u.Password, Hash: FirebaseHash(p, b64(t, u.Salt), b64(t, u.Hash))})
	}
	return out
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForeignVectors: every foreign format keel imports verifies the
// password its own reference implementation hashed, refuses a wrong one,
// passes CheckFormat within the default caps, and is due for a rehash
// (bcrypt, keel's own scheme, is not). One vector or more per format:
// bcrypt $2a$/$2b$/$2y$, argon2id, argon2i, Django pbkdf2_sha256, Firebase
// scrypt (the firebase/scrypt README's sample among them).
func TestForeignVectors(t *testing.T) {
	t.Parallel()
	vs := readVectors(t)
	seen := map[string]bool{}
	for _, v := range vs {
		name := v.Format
		if v.Format == "bcrypt" {
			name = v.Hash[:4]
		}
		seen[name] = true
		t.Run(name+"/"+v.Password, func(t *testing.T) {
			t.Parallel()
			if err := Compare([]byte(v.Hash), []byte(v.Password)); err != nil {
				t.Errorf("right password against %s (%s): %v", v.Hash, v.MadeBy, err)
			}
			if err := Compare([]byte(v.Hash), []byte(v.Password+"x")); err == nil {
				t.Errorf("wrong password against %s: accepted", v.Hash)
			}
			if err := CheckFormat(v.Hash, DefaultCaps); err != nil {
				t.Errorf("CheckFormat(%s): %v", v.Hash, err)
			}
			if got, want := NeedsRehash(v.Hash), v.Format != "bcrypt"; got != want {
				t.Errorf("NeedsRehash(%s) = %v, want %v", v.Hash, got, want)
			}
		})
	}
	for _, f := range []string{"$2a$", "$2b$", "$2y$", "argon2id", "argon2i", "pbkdf2_sha256", "firebase-scrypt"} {
		if !seen[f] {
			t.Errorf("no vector of %s in testdata", f)
		}
	}
}

// TestForeignThroughPool: the pool's Check, which every sign-in uses,
// reads the foreign formats: one vector of each (TestForeignVectors checks
// every vector; each of the costlier ones takes half a second under -race).
func TestForeignThroughPool(t *testing.T) {
	t.Parallel()
	p := New(4, 1, 1)
	seen := map[string]bool{}
	for _, v := range readVectors(t) {
		if seen[v.Format] && v.Format != "bcrypt" {
			continue
		}
		seen[v.Format] = true
		if err := p.Check(t.Context(), []byte(v.Hash), v.Password); err != nil {
			t.Errorf("%s: %v", v.Hash, err)
		}
		if err := p.Check(t.Context(), []byte(v.Hash), "not it"); err != ErrMismatch {
			t.Errorf("%s, wrong password: %v, want ErrMismatch", v.Hash, err)
		}
	}
}

// TestForeignCaps: a hash whose cost is over a cap is refused by
// CheckFormat with a reason naming the cap, and by Compare (which never
// runs it), so one line of an import cannot hold a worker or memory for as
// long as it likes; malformed strings are refused, never run.
func TestForeignCaps(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	hash := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	fb := func(ln, r int) string {
		key := []byte("0123456789abcdef0123456789abcdef")
		return FirebaseHash(FirebaseProject{SignerKey: key, SaltSeparator: []byte{7}, Rounds: r, MemCost: ln}, []byte("salt"), key)
	}
	bc := func(cost string) string {
		return "$2b$" + cost + "$" + strings.Repeat("a", 53)
	}
	for _, tt := range []struct{ name, hash, want string }{
		{"argon2 m", "$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + hash, "m=262145 is over the cap"},
		{"argon2 t", "$argon2id$v=19$m=65536,t=11,p=1$" + salt + "$" + hash, "t=11 is over the cap"},
		{"argon2 p", "$argon2i$v=19$m=65536,t=1,p=17$" + salt + "$" + hash, "p=17 is over the cap"},
		{"argon2 version 16", "$argon2id$v=16$m=65536,t=1,p=1$" + salt + "$" + hash, "version 19"},
		{"argon2 no version", "$argon2id$m=65536,t=1,p=1$" + salt + "$" + hash, "version 19"},
		{"argon2 params out of order", "$argon2id$v=19$t=1,m=65536,p=1$" + salt + "$" + hash, "parameters"},
		{"argon2 short hash", "$argon2id$v=19$m=65536,t=1,p=1$" + salt + "$AAAA", "16 to 1024 bytes"},
		{"scrypt N", fb(18, 8), "mem_cost 18 (N = 2^18) is over the cap"},
		{"scrypt r", fb(14, 17), "rounds 17 are over the cap"},
		{"pbkdf2 iterations", "pbkdf2_sha256$2000001$salt$" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "iterations 2000001 are over the cap"},
		// The work is iterations × (key bytes / 32): 16 s at the cap.
		{"pbkdf2 key over 32 bytes", "pbkdf2_sha256$1000$salt$" + base64.StdEncoding.EncodeToString(make([]byte, 1024)), "32 bytes"},
		{"pbkdf2 key under 32 bytes", "pbkdf2_sha256$1000$salt$" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "32 bytes"},
		{"pbkdf2 not a number", "pbkdf2_sha256$1e6$salt$" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "positive whole number"},
		{"bcrypt cost", bc("17"), "cost 17 is over the cap of 16"},
		{"bcrypt malformed", "$2b$10$short", "malformed bcrypt"},
		{"unknown", "md5$abc", "not a hash format"},
		{"sha1 django", "pbkdf2_sha1$1000$salt$abc", "not a hash format"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckFormat(tt.hash, DefaultCaps)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckFormat(%s) = %v, want an error with %q", tt.hash, err, tt.want)
			}
			if tt.name != "bcrypt cost" && Compare([]byte(tt.hash), []byte("pw")) == nil {
				t.Errorf("Compare accepted %s", tt.hash)
			}
		})
	}
	if err := CheckFormat("", DefaultCaps); err != nil {
		t.Errorf("no password: %v", err)
	}
}
