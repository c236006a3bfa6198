package passkey

import (
	"bytes"
	"strings"
	"testing"
)

// TestValidate: the settings fit together or are refused with a message
// naming the setting at fault.
func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{RPID: "example.com", RPName: "keel", Origins: []string{"https://example.com"}},
		{RPID: "example.com", RPName: "keel", Origins: []string{"https://app.example.com", "https://example.com:8443/"}},
		{RPID: "localhost", RPName: "keel", Origins: []string{"http://localhost:5173"}},
		{RPID: "app.localhost", RPName: "keel", Origins: []string{"http://app.localhost:3000"}},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
		if _, err := New(c); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
	for _, tt := range []struct {
		c    Config
		want string
	}{
		{Config{RPName: "keel", Origins: []string{"https://example.com"}}, "WEBAUTHN_RP_ID"},
		{Config{RPID: "example.com", RPName: "keel"}, "WEBAUTHN_ORIGINS"},
		{Config{RPID: "Example.com", RPName: "keel", Origins: []string{"https://example.com"}}, "lower-case host name"},
		{Config{RPID: "127.0.0.1", RPName: "keel", Origins: []string{"https://127.0.0.1"}}, "host name"},
		{Config{RPID: "example.com", RPName: "keel", Origins: []string{"https://evilexample.com"}}, "not WEBAUTHN_RP_ID"},
		{Config{RPID: "app.example.com", RPName: "keel", Origins: []string{"https://example.com"}}, "not WEBAUTHN_RP_ID"},
		{Config{RPID: "example.com", RPName: "keel", Origins: []string{"https://example.com?x=1"}}, "absolute origin"},
		{Config{RPID: "example.com", RPName: "keel", Origins: []string{"ftp://example.com"}}, "absolute origin"},
		{Config{RPID: "example.com", RPName: "keel", Origins: []string{"http://example.com"}}, "localhost only"},
	} {
		err := tt.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error saying %q", tt.c, err, tt.want)
		}
	}
}

// TestHandle: a new user handle is 32 random bytes, another each time; the
// legacy one is the account id, 8 bytes big-endian.
func TestHandle(t *testing.T) {
	t.Parallel()
	a, b := NewHandle(), NewHandle()
	if len(a) != HandleLen || HandleLen != 32 || bytes.Equal(a, b) || bytes.Equal(a, make([]byte, HandleLen)) {
		t.Errorf("NewHandle() = %x, then %x; want 32 random bytes each", a, b)
	}
	if h := LegacyHandle(258); len(h) != 8 || h[6] != 1 || h[7] != 2 {
		t.Errorf("LegacyHandle(258) = %v", h)
	}
}
