package admin

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// TestCheckPerson: the admin role, then a verified factor and aal2, then,
// for a destructive operation only, a proof younger than the max age.
func TestCheckPerson(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	const maxAge = 10 * time.Minute
	good := Person{Role: db.RoleAdmin, HasFactor: true, AAL2: true, AuthTime: now.Add(-time.Minute)}
	with := func(f func(*Person)) Person { p := good; f(&p); return p }
	for _, c := range []struct {
		name        string
		p           Person
		destructive bool
		want        error
	}{
		{"admin", good, false, nil},
		{"admin, destructive, fresh", good, true, nil},
		{"a user", with(func(p *Person) { p.Role = db.RoleUser }), false, ErrNotAdmin},
		{"no role", with(func(p *Person) { p.Role = "" }), false, ErrNotAdmin},
		{"a user without a factor", Person{Role: db.RoleUser}, false, ErrNotAdmin},
		{"no factor", with(func(p *Person) { p.HasFactor = false }), false, ErrSecondFactor},
		{"aal1", with(func(p *Person) { p.AAL2 = false }), false, ErrSecondFactor},
		{"stale proof, not destructive", with(func(p *Person) { p.AuthTime = now.Add(-maxAge) }), false, nil},
		{"stale proof, destructive", with(func(p *Person) { p.AuthTime = now.Add(-maxAge) }), true, ErrFreshProof},
		{"no proof, destructive", with(func(p *Person) { p.AuthTime = time.Time{} }), true, ErrFreshProof},
	} {
		if got := CheckPerson(c.p, c.destructive, now, maxAge); !errors.Is(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCheckMachine: the admin scope, and nothing else, lets a machine in.
func TestCheckMachine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		scopes []string
		want   error
	}{
		{[]string{"admin"}, nil},
		{[]string{"reports", "admin"}, nil},
		{nil, ErrNotAdmin},
		{[]string{"reports"}, ErrNotAdmin},
		{[]string{"Admin"}, ErrNotAdmin},
	} {
		if got := CheckMachine(c.scopes); !errors.Is(got, c.want) {
			t.Errorf("%v: %v, want %v", c.scopes, got, c.want)
		}
	}
}
