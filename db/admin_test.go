package db

import (
	"testing"
	"time"
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
		{"a\xff", "a\xff", "b"},
		{"\xff\xff", "\xff\xff", ""},
		{"é", "é", "\xc3\xaa"},
	} {
		if lo, hi := EmailPrefixRange(c.prefix); lo != c.lo || hi != c.hi {
			t.Errorf("EmailPrefixRange(%q) = %q, %q; want %q, %q", c.prefix, lo, hi, c.lo, c.hi)
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
