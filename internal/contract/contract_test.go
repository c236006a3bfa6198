package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEmailFormat: the checker's own reading of `format: email` refuses what
// the spec's RFC 5322 addr-spec forbids, whatever rule the server registers.
func TestEmailFormat(t *testing.T) {
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{"ada@example.com", true},
		{"a.b+tag@sub.example.co", true},
		{"ñandú@example.com", false},
		{" ada@example.com", false},
		{"ada@example.com ", false},
		{"Ada <ada@example.com>", false},
		{"ada@localhost", false},
		{"ada..b@example.com", false},
		{"ada@-example.com", false},
		{"ada@exämple.com", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".com", false}, // 260 bytes
	} {
		if err := checkAddrSpec(tt.email); (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok=%v", tt.email, err, tt.ok)
		}
	}
}

// TestCheckResponses: a profile with a non-ASCII email is off-spec, and a 500
// is refused even where the spec documents one.
func TestCheckResponses(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	profile := httptest.NewRequest("GET", "/profile", nil)
	profile.Header.Set("Authorization", "Bearer x")
	good := `{"id":1,"email":"ada@example.com","created_at":"2026-11-25T10:00:00Z","email_verified":false}`
	bad := strings.Replace(good, "ada@", "ñandú@", 1)
	if err := v.Check(profile, 200, h, []byte(good)); err != nil {
		t.Errorf("a good profile: %v", err)
	}
	if err := v.Check(profile, 200, h, []byte(bad)); err == nil {
		t.Error("a profile with a UTF-8 local part passed the contract")
	}
	register := httptest.NewRequest("POST", "/register", nil)
	p := http.Header{"Content-Type": {"application/problem+json"}}
	if err := v.Check(register, 500, p, []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)); err == nil {
		t.Error("a 500 passed the contract")
	}
}
