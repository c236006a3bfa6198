package db

import (
	"testing"
	"time"
	"unicode/utf8"
)

// TestEmailPrefixRange: the range holds exactly the lower-cased strings
// that start with the prefix, ASCII letters in any case; past '@' comes
// '[' (upper-case letters are never in the range).
func TestEmailPrefixRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ prefix, lo, hi string }{
		{"ada", "ada", "adb"},
		{"ADA", "ada", "adb"},
		{"a@", "a@", "a["},
		{"az", "az", "a{"},
		{"é", "é", "\xc3\xaa"},
		// The next character, not the next byte: always UTF-8 text.
		{"a\x7f", "a\x7f", "a\u0080"},
		{"¿", "¿", "À"},
		{"\u07ff", "\u07ff", "\u0800"},
		{"\ud7ff", "\ud7ff", "\ue000"},
		{"\uffff", "\uffff", "\U00010000"},
		{"a\U0010ffff", "a\U0010ffff", "b"},
		{"\U0010ffff", "\U0010ffff", ""},
		// Not UTF-8: no email starts with it.
		{"a\xff", "a\xff", ""},
		{"\xff\xff", "\xff\xff", ""},
	} {
		lo, hi := EmailPrefixRange(c.prefix)
		if lo != c.lo || hi != c.hi {
			t.Errorf("EmailPrefixRange(%q) = %q, %q; want %q, %q", c.prefix, lo, hi, c.lo, c.hi)
		}
		if !utf8.ValidString(hi) {
			t.Errorf("EmailPrefixRange(%q)'s hi %q is not UTF-8", c.prefix, hi)
		}
	}
}

// TestUserState: banned while a ban holds (whatever else), else
// unverified until the address is proved, else active.
func TestUserState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		u    UserRecord
		want string
	}{
		{UserRecord{User: User{EmailVerified: true}}, StateActive},
		{UserRecord{}, StateUnverified},
		{UserRecord{BannedAt: now.Add(-time.Hour)}, StateBanned},
		{UserRecord{User: User{EmailVerified: true}, BannedAt: now.Add(-time.Hour), BannedUntil: now.Add(time.Minute)}, StateBanned},
		{UserRecord{User: User{EmailVerified: true}, BannedAt: now.Add(-time.Hour), BannedUntil: now}, StateActive},
	} {
		if got := c.u.State(now); got != c.want {
			t.Errorf("%+v: %q, want %q", c.u, got, c.want)
		}
	}
}
